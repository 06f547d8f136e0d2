//! What the report calls "codes by method and status": every response this UA received
//! to its own requests (counted under the method, e.g. `INVITE` 100/180/486, `REGISTER`
//! 401/200) and every response it sent to a peer's request (under `METHOD (UAS)`, e.g.
//! `INVITE (UAS)` 180/200/487), challenges and auto-replies included. Responses the UA
//! made up (408 after a timer) are not counted: nothing came over the wire.

/// Methods counted under their own name; others count as `other`.
const METHODS: [(&str, &str, &str); 7] = [
    ("REGISTER", "REGISTER", "REGISTER (UAS)"),
    ("INVITE", "INVITE", "INVITE (UAS)"),
    ("CANCEL", "CANCEL", "CANCEL (UAS)"),
    ("BYE", "BYE", "BYE (UAS)"),
    ("OPTIONS", "OPTIONS", "OPTIONS (UAS)"),
    ("MESSAGE", "MESSAGE", "MESSAGE (UAS)"),
    ("ACK", "ACK", "ACK (UAS)"),
];

/// The label of a response to `method`: received by us as the client (`uas: false`) or
/// sent by us as the server.
pub fn label(method: &str, uas: bool) -> &'static str {
    match METHODS.iter().find(|(m, _, _)| *m == method) {
        Some((_, uac, server)) => {
            if uas {
                server
            } else {
                uac
            }
        }
        None if uas => "other (UAS)",
        None => "other",
    }
}

/// Counts by `(label, status)`: a handful of entries (at most labels × statuses seen), so
/// a linear scan beats hashing.
#[derive(Debug, Default)]
pub struct Tally {
    /// `(label, status, count)` since last taken.
    counts: Vec<(&'static str, u16, u64)>,
}

impl Tally {
    /// A response to `method` with `status`: received (`uas: false`) or sent.
    pub fn count(&mut self, method: &str, uas: bool, status: u16) {
        let label = label(method, uas);
        match self
            .counts
            .iter_mut()
            .find(|(l, s, _)| *l == label && *s == status)
        {
            Some(entry) => entry.2 += 1,
            None => self.counts.push((label, status, 1)),
        }
    }

    /// Moves the counts into `out` as `(label, status, count)`.
    pub fn take(&mut self, out: &mut Vec<(&'static str, u32, u64)>) {
        out.extend(
            self.counts
                .drain(..)
                .map(|(label, status, n)| (label, u32::from(status), n)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_label_and_status() {
        let mut t = Tally::default();
        t.count("INVITE", false, 486);
        t.count("INVITE", false, 486);
        t.count("INVITE", true, 486);
        t.count("SUBSCRIBE", true, 405);
        let mut out = Vec::new();
        t.take(&mut out);
        assert_eq!(
            out,
            [
                ("INVITE", 486, 2),
                ("INVITE (UAS)", 486, 1),
                ("other (UAS)", 405, 1)
            ]
        );
        out.clear();
        t.take(&mut out);
        assert!(out.is_empty());
    }
}
