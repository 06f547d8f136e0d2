//! Failures counted by kind, each kind keeping a few sample frames.
//!
//! A load test can fail the same way a million times; storing each failure would make the
//! report (and memory) grow with the run. Like oha, we count failures by kind and keep
//! only the first [`MAX_SAMPLES_PER_KIND`] samples of each, with their frames truncated to
//! [`MAX_TEXT_BYTES`]. The kind must therefore not contain per-session values (channel ids,
//! account names): put those in the sample's `detail` instead.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};

/// Samples kept per failure kind.
pub const MAX_SAMPLES_PER_KIND: usize = 3;
/// Frames kept per sample.
pub const MAX_FRAMES_PER_SAMPLE: usize = 8;
/// Longest text (detail or frame) kept in a sample; longer text is cut at a char boundary
/// and marked with `…`.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Distinct kinds kept; further kinds are counted under [`FailureKind::overflow`], so a
/// scenario that puts per-session values in its reasons cannot exhaust memory.
pub const MAX_KINDS: usize = 256;

/// What failed: the key failures are grouped by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FailureKind {
    /// The step that failed (its name, or a label such as `login` or `session`).
    pub step: String,
    /// The role whose connection saw the failure.
    pub role: String,
    /// Expected versus got, e.g. `expected 200, got 10404 ROOM_NOT_EXISTS`.
    pub reason: String,
}

impl FailureKind {
    /// A kind from its three parts.
    pub fn new(
        step: impl Into<String>,
        role: impl Into<String>,
        reason: impl Into<String>,
    ) -> FailureKind {
        FailureKind {
            step: step.into(),
            role: role.into(),
            reason: reason.into(),
        }
    }

    /// The kind that collects failures beyond [`MAX_KINDS`] distinct kinds.
    pub fn overflow() -> FailureKind {
        FailureKind::new(
            "*",
            "*",
            format!("other failure kinds (over {MAX_KINDS} distinct)"),
        )
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]: {}", self.step, self.role, self.reason)
    }
}

/// One occurrence of a failure, as evidence for a person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureSample {
    /// The session number (0-based, unique in the run); `None` for a failure outside any
    /// session (a reconnect between sessions, a harness error).
    pub session: Option<u64>,
    /// Milliseconds since the run started; the recorder fills it in.
    pub at_ms: u64,
    /// Free text: the values involved, e.g. the channel id that was not found.
    pub detail: String,
    /// The frames involved, in order, e.g. `-> {"op":"call",…}` and `<- {"code":10404,…}`.
    pub frames: Vec<String>,
}

impl FailureSample {
    /// A sample for `session` with a detail text and no frames yet.
    pub fn new(session: u64, detail: impl Into<String>) -> FailureSample {
        FailureSample {
            session: Some(session),
            at_ms: 0,
            detail: detail.into(),
            frames: Vec::new(),
        }
    }

    /// A sample of a failure outside any session.
    pub fn outside(detail: impl Into<String>) -> FailureSample {
        FailureSample {
            session: None,
            at_ms: 0,
            detail: detail.into(),
            frames: Vec::new(),
        }
    }

    /// `session 12`, or `between sessions`.
    pub fn where_text(&self) -> String {
        match self.session {
            Some(n) => format!("session {n}"),
            None => "between sessions".to_owned(),
        }
    }

    /// Adds a frame (builder style).
    pub fn with_frame(mut self, frame: impl Into<String>) -> FailureSample {
        self.frames.push(frame.into());
        self
    }

    /// Cuts the sample down to the kept sizes.
    fn truncate(&mut self) {
        truncate_text(&mut self.detail);
        self.frames.truncate(MAX_FRAMES_PER_SAMPLE);
        for frame in &mut self.frames {
            truncate_text(frame);
        }
    }
}

/// Cuts `text` to at most [`MAX_TEXT_BYTES`] (plus the `…` marker) at a char boundary.
fn truncate_text(text: &mut String) {
    if text.len() <= MAX_TEXT_BYTES {
        return;
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

/// How often one kind happened, with its first samples.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailureEntry {
    pub count: u64,
    pub samples: Vec<FailureSample>,
}

/// Failures grouped by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    kinds: HashMap<FailureKind, FailureEntry>,
}

impl Failures {
    /// Counts one failure, keeping `sample` if its kind has fewer than
    /// [`MAX_SAMPLES_PER_KIND`] samples.
    pub fn add(&mut self, kind: FailureKind, sample: FailureSample) {
        self.add_entry(
            kind,
            FailureEntry {
                count: 1,
                samples: vec![sample],
            },
        );
    }

    /// Adds a whole entry (a count and its samples) under `kind`.
    pub fn add_entry(&mut self, kind: FailureKind, mut entry: FailureEntry) {
        let kind = if self.kinds.len() >= MAX_KINDS && !self.kinds.contains_key(&kind) {
            FailureKind::overflow()
        } else {
            kind
        };
        let target = match self.kinds.entry(kind) {
            Entry::Occupied(slot) => slot.into_mut(),
            Entry::Vacant(slot) => slot.insert(FailureEntry::default()),
        };
        target.count = target.count.saturating_add(entry.count);
        let room = MAX_SAMPLES_PER_KIND.saturating_sub(target.samples.len());
        for mut sample in entry.samples.drain(..).take(room) {
            sample.truncate();
            target.samples.push(sample);
        }
    }

    /// Adds every kind of `other` into `self`.
    pub fn merge(&mut self, other: Failures) {
        for (kind, entry) in other.kinds {
            self.add_entry(kind, entry);
        }
    }

    /// Total failures over all kinds.
    pub fn total(&self) -> u64 {
        self.kinds.values().map(|e| e.count).sum()
    }

    /// Failures whose kind names `step`.
    pub fn total_for_step(&self, step: &str) -> u64 {
        self.kinds
            .iter()
            .filter(|(kind, _)| kind.step == step)
            .map(|(_, e)| e.count)
            .sum()
    }

    /// Number of distinct kinds.
    pub fn kinds(&self) -> usize {
        self.kinds.len()
    }

    /// True when nothing failed.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The kinds, most frequent first (ties by kind, so the order is stable).
    pub fn sorted(&self) -> Vec<(&FailureKind, &FailureEntry)> {
        let mut all: Vec<_> = self.kinds.iter().collect();
        all.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(reason: &str) -> FailureKind {
        FailureKind::new("call", "caller", reason)
    }

    #[test]
    fn counts_by_kind_and_keeps_few_samples() {
        let mut f = Failures::default();
        for i in 0..10 {
            f.add(kind("expected 200, got 10404"), FailureSample::new(i, "x"));
        }
        f.add(kind("timeout"), FailureSample::new(99, "y"));
        assert_eq!(f.total(), 11);
        assert_eq!(f.kinds(), 2);
        let sorted = f.sorted();
        assert_eq!(sorted[0].1.count, 10);
        assert_eq!(sorted[0].1.samples.len(), MAX_SAMPLES_PER_KIND);
        assert_eq!(sorted[0].1.samples[0].session, Some(0));
        assert_eq!(f.total_for_step("call"), 11);
        assert_eq!(f.total_for_step("accept"), 0);
    }

    #[test]
    fn long_frames_are_truncated_at_char_boundary() {
        let mut f = Failures::default();
        let long = "é".repeat(2000);
        let sample = FailureSample::new(1, long.clone()).with_frame(long);
        f.add(kind("big"), sample);
        let (_, entry) = f.sorted()[0];
        let kept = &entry.samples[0];
        assert!(kept.detail.len() <= MAX_TEXT_BYTES + '…'.len_utf8());
        assert!(kept.frames[0].ends_with('…'));
    }

    #[test]
    fn kinds_beyond_the_cap_are_folded() {
        let mut f = Failures::default();
        for i in 0..(MAX_KINDS + 10) {
            f.add(
                kind(&format!("reason {i}")),
                FailureSample::new(i as u64, ""),
            );
        }
        assert_eq!(f.kinds(), MAX_KINDS + 1);
        assert_eq!(f.total(), (MAX_KINDS + 10) as u64);
        let overflow = f.sorted()[0];
        assert_eq!(overflow.0, &FailureKind::overflow());
        assert_eq!(overflow.1.count, 10);
    }

    #[test]
    fn merge_sums_counts_and_caps_samples() {
        let mut a = Failures::default();
        let mut b = Failures::default();
        for i in 0..2 {
            a.add(kind("k"), FailureSample::new(i, ""));
            b.add(kind("k"), FailureSample::new(10 + i, ""));
        }
        a.merge(b);
        let (_, e) = a.sorted()[0];
        assert_eq!(e.count, 4);
        assert_eq!(e.samples.len(), MAX_SAMPLES_PER_KIND);
    }
}
