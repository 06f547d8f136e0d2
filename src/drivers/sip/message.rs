//! One SIP message per WebSocket text frame (RFC 7118 §5.2): the strict framing parse
//! (start line, header lines, blank line, body) and typed access to the headers the UA
//! core needs.
//!
//! The framing is written here rather than taken from a crate: the SIP crates either
//! extract headers leniently (sip-header's `message` module returns what it finds and
//! never an error) or come with a whole unmaintained message model (rsip), while a
//! harness must reject a broken message with the rule it broke (no blank line, bad
//! start line, missing Call-ID, short body, oversized headers). Header *values* with a
//! grammar of their own (Via, name-addr, auth challenges) are parsed with `sip-header`.

use std::fmt;

use sip_header::{SipHeaderAddr, SipVia};

/// The largest message accepted (bytes). Real SIP messages are a few KB; a server that
/// sends more is broken, and memory per connection must stay bounded.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The most header lines accepted.
pub const MAX_HEADERS: usize = 256;

/// The first line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { status: u16, reason: String },
}

/// A parsed SIP message. Header names are kept as sent; lookups are by canonical
/// (lowercase, long-form) name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// `(canonical lowercase name, value)`, in order; comma-separated values stay on one
    /// entry as sent.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Why a frame is not a SIP message this UA can use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message of {0} bytes exceeds the {MAX_MESSAGE}-byte limit")]
    TooLarge(usize),
    #[error("more than {MAX_HEADERS} header lines")]
    TooManyHeaders,
    #[error("no blank line after the headers (RFC 3261 §7: headers end with an empty line)")]
    NoBlankLine,
    #[error("bad start line '{0}': expected 'SIP/2.0 CODE REASON' or 'METHOD URI SIP/2.0'")]
    BadStartLine(String),
    #[error("header line {line} '{text}' has no ':'")]
    BadHeaderLine { line: usize, text: String },
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("bad {name} header '{value}': {why}")]
    BadHeader {
        name: &'static str,
        value: String,
        why: String,
    },
    #[error("Content-Length {declared} exceeds the {actual}-byte body")]
    ShortBody { declared: usize, actual: usize },
}

/// `Call-ID` and friends: the canonical name of a header name as sent (compact forms
/// expanded, RFC 3261 §7.3.3 and the registered compact forms).
pub fn canonical_name(name: &str) -> String {
    let long = match name {
        "i" | "I" => "call-id",
        "m" | "M" => "contact",
        "e" | "E" => "content-encoding",
        "l" | "L" => "content-length",
        "c" | "C" => "content-type",
        "f" | "F" => "from",
        "s" | "S" => "subject",
        "k" | "K" => "supported",
        "t" | "T" => "to",
        "v" | "V" => "via",
        "o" | "O" => "event",
        "r" | "R" => "refer-to",
        "u" | "U" => "allow-events",
        "x" | "X" => "session-expires",
        _ => return name.to_ascii_lowercase(),
    };
    long.to_string()
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let bad = || ParseError::BadStartLine(line.chars().take(200).collect());
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let status: u16 = code.parse().map_err(|_| bad())?;
        if !(100..700).contains(&status) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            status,
            reason: reason.to_string(),
        });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if version != "SIP/2.0" || !is_token(method) || uri.is_empty() || !uri.contains(':') {
        return Err(bad());
    }
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

impl Message {
    /// Parses one frame. Leading CRLFs are skipped (RFC 3261 §7.5); the body is cut at
    /// Content-Length when the frame holds more (RFC 3261 §18.3, message transports).
    pub fn parse(text: &str) -> Result<Message, ParseError> {
        if text.len() > MAX_MESSAGE {
            return Err(ParseError::TooLarge(text.len()));
        }
        let text = text.trim_start_matches(['\r', '\n']);
        let (head, body) = match text.find("\r\n\r\n") {
            Some(i) => (&text[..i], &text[i + 4..]),
            None => match text.find("\n\n") {
                Some(i) => (&text[..i], &text[i + 2..]),
                None => return Err(ParseError::NoBlankLine),
            },
        };
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let start = parse_start_line(lines.next().unwrap_or_default())?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for (index, line) in lines.enumerate() {
            if line.starts_with([' ', '\t']) {
                // Folded continuation of the previous header (RFC 3261 §7.3.1).
                match headers.last_mut() {
                    Some((_, value)) => {
                        value.push(' ');
                        value.push_str(line.trim());
                        continue;
                    }
                    None => {
                        return Err(ParseError::BadHeaderLine {
                            line: index + 2,
                            text: line.chars().take(120).collect(),
                        });
                    }
                }
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(ParseError::BadHeaderLine {
                    line: index + 2,
                    text: line.chars().take(120).collect(),
                });
            };
            let name = name.trim_end();
            if !is_token(name) {
                return Err(ParseError::BadHeaderLine {
                    line: index + 2,
                    text: line.chars().take(120).collect(),
                });
            }
            if headers.len() == MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            headers.push((canonical_name(name), value.trim().to_string()));
        }
        let mut message = Message {
            start,
            headers,
            body: String::new(),
        };
        let body = match message.header("content-length") {
            None => body,
            Some(v) => {
                let declared: usize = v.parse().map_err(|_| ParseError::BadHeader {
                    name: "Content-Length",
                    value: v.to_string(),
                    why: "not a number".into(),
                })?;
                if declared > body.len() {
                    return Err(ParseError::ShortBody {
                        declared,
                        actual: body.len(),
                    });
                }
                body.get(..declared).ok_or_else(|| ParseError::BadHeader {
                    name: "Content-Length",
                    value: v.to_string(),
                    why: "ends inside a UTF-8 character".into(),
                })?
            }
        };
        message.body = body.to_string();
        message.check_mandatory()?;
        Ok(message)
    }

    /// RFC 3261 §8.1.1: every message carries Via, From, To, Call-ID and CSeq, and a
    /// response's CSeq names a method.
    fn check_mandatory(&self) -> Result<(), ParseError> {
        for (name, label) in [
            ("via", "Via"),
            ("from", "From"),
            ("to", "To"),
            ("call-id", "Call-ID"),
            ("cseq", "CSeq"),
        ] {
            if self.header(name).is_none_or(str::is_empty) {
                return Err(ParseError::Missing(label));
            }
        }
        let (_, method) = self.cseq()?;
        if let StartLine::Request { method: m, .. } = &self.start
            && *m != method
        {
            return Err(ParseError::BadHeader {
                name: "CSeq",
                value: self.header("cseq").unwrap_or_default().to_string(),
                why: format!("method differs from the request's {m}"),
            });
        }
        self.top_via()?;
        Ok(())
    }

    /// The first value of a header (canonical lowercase name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order (one per header line).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn call_id(&self) -> &str {
        self.header("call-id").unwrap_or_default()
    }

    /// `(number, method)` of CSeq.
    pub fn cseq(&self) -> Result<(u32, String), ParseError> {
        let value = self.header("cseq").unwrap_or_default();
        let bad = |why: &str| ParseError::BadHeader {
            name: "CSeq",
            value: value.to_string(),
            why: why.to_string(),
        };
        let (number, method) = value
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("expected 'NUMBER METHOD'"))?;
        let number: u32 = number
            .parse()
            .map_err(|_| bad("the number is not a 32-bit integer"))?;
        let method = method.trim();
        if !is_token(method) {
            return Err(bad("the method is not a token"));
        }
        Ok((number, method.to_string()))
    }

    /// The topmost Via entry's branch (`None` when it has none).
    pub fn top_via(&self) -> Result<Option<String>, ParseError> {
        let value = self.header("via").unwrap_or_default();
        let via = SipVia::parse(value).map_err(|e| ParseError::BadHeader {
            name: "Via",
            value: value.to_string(),
            why: e.to_string(),
        })?;
        Ok(via
            .entries()
            .first()
            .and_then(|e| e.branch())
            .map(str::to_string))
    }

    /// A name-addr header (From, To, Contact): `None` when absent.
    pub fn addr(&self, name: &'static str) -> Result<Option<SipHeaderAddr>, ParseError> {
        let Some(value) = self.header(name) else {
            return Ok(None);
        };
        let first = SipHeaderAddr::parse_list(value)
            .map_err(|e| ParseError::BadHeader {
                name: label(name),
                value: value.to_string(),
                why: e.to_string(),
            })?
            .into_iter()
            .next();
        Ok(first)
    }

    /// The tag of From or To.
    pub fn tag(&self, name: &'static str) -> Result<Option<String>, ParseError> {
        Ok(self.addr(name)?.and_then(|a| a.tag().map(str::to_string)))
    }

    /// Every entry of a list header (Record-Route, Route, Contact), as written.
    pub fn addr_list(&self, name: &'static str) -> Result<Vec<SipHeaderAddr>, ParseError> {
        let mut out = Vec::new();
        for value in self.headers_named(name) {
            out.extend(
                SipHeaderAddr::parse_list(value).map_err(|e| ParseError::BadHeader {
                    name: label(name),
                    value: value.to_string(),
                    why: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// The first line, for messages quoting this one.
    pub fn first_line(&self) -> String {
        match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0"),
            StartLine::Response { status, reason } => format!("SIP/2.0 {status} {reason}"),
        }
    }
}

/// The usual spelling of a canonical header name, for messages.
fn label(name: &'static str) -> &'static str {
    match name {
        "from" => "From",
        "to" => "To",
        "contact" => "Contact",
        "record-route" => "Record-Route",
        "route" => "Route",
        _ => name,
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.first_line())
    }
}

/// The first `limit` characters of a frame, for error messages.
pub fn quote(text: &str, limit: usize) -> String {
    let mut out: String = text.chars().take(limit).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.replace('\r', "").replace('\n', "⏎")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/WS abc.invalid;branch=z9hG4bK776asdhds;rport\r\n\
        Max-Forwards: 70\r\n\
        To: Bob <sip:bob@example.com>\r\n\
        f: Alice <sip:alice@example.com>;tag=1928301774\r\n\
        i: a84b4c76e66710\r\n\
        CSeq: 314159 INVITE\r\n\
        Contact: <sip:alice@abc.invalid;transport=ws>\r\n\
        Subject: long\r\n  folded\r\n\
        l: 4\r\n\r\nv=0\r\n";

    #[test]
    fn parses_a_request_with_compact_and_folded_headers() {
        let m = Message::parse(INVITE).unwrap();
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.call_id(), "a84b4c76e66710");
        assert_eq!(m.cseq().unwrap(), (314159, "INVITE".to_string()));
        assert_eq!(m.tag("from").unwrap().as_deref(), Some("1928301774"));
        assert_eq!(m.tag("to").unwrap(), None);
        assert_eq!(m.header("subject"), Some("long folded"));
        assert_eq!(m.top_via().unwrap().as_deref(), Some("z9hG4bK776asdhds"));
        // Content-Length 4 cuts the trailing CRLF.
        assert_eq!(m.body, "v=0\r");
    }

    #[test]
    fn parses_a_response() {
        let text = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bK1\r\n\
            From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        let m = Message::parse(text).unwrap();
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.first_line(), "SIP/2.0 180 Ringing");
    }

    fn err(text: &str) -> String {
        Message::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn rejects_broken_messages_with_the_rule() {
        assert!(err("SIP/2.0 200 OK\r\nCall-ID: x\r\n").contains("no blank line"));
        assert!(err("HTTP/1.1 200 OK\r\n\r\n").contains("bad start line 'HTTP/1.1 200 OK'"));
        assert!(err("SIP/2.0 2000 OK\r\n\r\n").contains("bad start line"));
        assert!(err("INVITE sip:x SIP/3.0\r\n\r\n").contains("bad start line"));
        let no_call_id = "SIP/2.0 200 OK\r\nVia: SIP/2.0/WS x;branch=z9hG4bK1\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\nCSeq: 1 REGISTER\r\n\r\n";
        assert_eq!(err(no_call_id), "missing Call-ID header");
        let no_cseq = "SIP/2.0 200 OK\r\nVia: SIP/2.0/WS x;branch=z9hG4bK1\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\nCall-ID: c\r\n\r\n";
        assert_eq!(err(no_cseq), "missing CSeq header");
        let short = "SIP/2.0 200 OK\r\nVia: SIP/2.0/WS x;branch=z9hG4bK1\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 BYE\r\nContent-Length: 100\r\n\r\nabc";
        assert_eq!(err(short), "Content-Length 100 exceeds the 3-byte body");
        let big = format!(
            "SIP/2.0 200 OK\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(100 * 1024)
        );
        assert!(err(&big).contains("exceeds the 65536-byte limit"));
        assert!(
            err("SIP/2.0 200 OK\r\nno colon here\r\n\r\n")
                .contains("header line 2 'no colon here' has no ':'")
        );
        let bad_cseq = "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/WS x;branch=z9hG4bK1\r\nFrom: <sip:a@h>\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n";
        assert!(err(bad_cseq).contains("method differs"));
    }

    #[test]
    fn quote_is_one_line_and_bounded() {
        assert_eq!(quote("SIP/2.0 200 OK\r\nX: y", 100), "SIP/2.0 200 OK⏎X: y");
        assert_eq!(quote("abcdef", 3), "abc…");
    }
}
