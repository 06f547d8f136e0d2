//! Building SIP messages as text: requests from their parts, responses from the request
//! they answer (RFC 3261 §8.2.6: Via, From, Call-ID and CSeq copied; To gets our tag),
//! and the fixed minimal SDP the UA offers and answers with (no media is sent).

use std::fmt::Write as _;

use super::message::Message;

/// What every message says it is.
pub const USER_AGENT: &str = concat!("sigbench/", env!("CARGO_PKG_VERSION"));
/// The methods this UA accepts (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// A fixed SDP body: audio, no media ever flows (the harness measures signaling).
pub fn sdp(session_id: u64) -> String {
    format!(
        "v=0\r\no=sigbench {session_id} 1 IN IP4 127.0.0.1\r\ns=sigbench\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8\r\na=sendrecv\r\n"
    )
}

/// The parts of a request, minus what changes between its retries (branch, CSeq,
/// credentials).
#[derive(Clone, Debug)]
pub struct Draft {
    pub method: String,
    pub uri: String,
    /// From header value, with our tag.
    pub from: String,
    /// To header value (with the peer's tag inside a dialog).
    pub to: String,
    pub call_id: String,
    /// Route header values, in order.
    pub routes: Vec<String>,
    /// Our Contact header value, when the method carries one.
    pub contact: Option<String>,
    /// Extra headers, in order.
    pub extra: Vec<(String, String)>,
    /// `(content type, body)`.
    pub body: Option<(String, String)>,
}

/// The transport name in Via: `WS` or `WSS` (RFC 7118 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Ws,
    Wss,
}

impl Transport {
    fn via(self) -> &'static str {
        match self {
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
}

/// The text of a request.
pub fn request(
    draft: &Draft,
    transport: Transport,
    via_host: &str,
    branch: &str,
    cseq: u32,
    auth: Option<(&str, &str)>,
) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(
        out,
        "{} {} SIP/2.0\r\nVia: SIP/2.0/{} {via_host};branch={branch};rport\r\nMax-Forwards: 70\r\n",
        draft.method,
        draft.uri,
        transport.via()
    );
    for route in &draft.routes {
        let _ = write!(out, "Route: {route}\r\n");
    }
    let _ = write!(
        out,
        "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {}\r\n",
        draft.from,
        draft.to,
        draft.call_id,
        // ACK and CANCEL carry their own method; everything else too.
        draft.method
    );
    if let Some(contact) = &draft.contact {
        let _ = write!(out, "Contact: {contact}\r\n");
    }
    if let Some((name, value)) = auth {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    for (name, value) in &draft.extra {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    finish(
        &mut out,
        draft.body.as_ref().map(|(t, b)| (t.as_str(), b.as_str())),
    );
    out
}

/// What a response adds to the copied headers.
#[derive(Debug, Default)]
pub struct Answer<'a> {
    /// Added to To when the request's To has no tag.
    pub to_tag: Option<&'a str>,
    pub contact: Option<&'a str>,
    /// Copy Record-Route (responses that create a dialog: 18x/2xx to INVITE).
    pub record_route: bool,
    pub extra: &'a [(&'a str, &'a str)],
    pub body: Option<(&'a str, &'a str)>,
}

/// The text of a response to `req`.
pub fn response(req: &Message, status: u16, reason: &str, answer: &Answer<'_>) -> String {
    let mut out = String::with_capacity(512);
    let _ = write!(out, "SIP/2.0 {status} {reason}\r\n");
    for via in req.headers_named("via") {
        let _ = write!(out, "Via: {via}\r\n");
    }
    if answer.record_route {
        for rr in req.headers_named("record-route") {
            let _ = write!(out, "Record-Route: {rr}\r\n");
        }
    }
    let _ = write!(out, "From: {}\r\n", req.header("from").unwrap_or_default());
    let to = req.header("to").unwrap_or_default();
    let has_tag = req.tag("to").ok().flatten().is_some();
    match answer.to_tag {
        Some(tag) if !has_tag => {
            let _ = write!(out, "To: {to};tag={tag}\r\n");
        }
        _ => {
            let _ = write!(out, "To: {to}\r\n");
        }
    }
    let _ = write!(
        out,
        "Call-ID: {}\r\nCSeq: {}\r\n",
        req.call_id(),
        req.header("cseq").unwrap_or_default()
    );
    if let Some(contact) = answer.contact {
        let _ = write!(out, "Contact: {contact}\r\n");
    }
    for (name, value) in answer.extra {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    finish(&mut out, answer.body);
    out
}

fn finish(out: &mut String, body: Option<(&str, &str)>) {
    let _ = write!(out, "User-Agent: {USER_AGENT}\r\n");
    match body {
        Some((content_type, body)) => {
            let _ = write!(
                out,
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            method: "INVITE".into(),
            uri: "sip:bob@127.0.0.1".into(),
            from: "<sip:alice@127.0.0.1>;tag=t1".into(),
            to: "<sip:bob@127.0.0.1>".into(),
            call_id: "c1".into(),
            routes: vec!["<sip:127.0.0.1:5060;lr>".into()],
            contact: Some("<sip:alice@a.invalid;transport=ws>".into()),
            extra: vec![("Expires".into(), "60".into())],
            body: Some(("application/sdp".into(), sdp(7))),
        }
    }

    #[test]
    fn a_request_parses_back() {
        let text = request(
            &draft(),
            Transport::Ws,
            "a.invalid",
            "z9hG4bKx",
            3,
            Some(("Proxy-Authorization", "Digest x")),
        );
        let m = Message::parse(&text).unwrap();
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.cseq().unwrap(), (3, "INVITE".into()));
        assert_eq!(m.top_via().unwrap().as_deref(), Some("z9hG4bKx"));
        assert_eq!(m.header("route"), Some("<sip:127.0.0.1:5060;lr>"));
        assert_eq!(m.header("proxy-authorization"), Some("Digest x"));
        assert!(
            m.header("via")
                .unwrap()
                .starts_with("SIP/2.0/WS a.invalid;")
        );
        assert_eq!(m.body, sdp(7));
    }

    #[test]
    fn a_response_copies_the_request() {
        let text = request(&draft(), Transport::Wss, "a.invalid", "z9hG4bKx", 3, None);
        let req = Message::parse(&text).unwrap();
        let answer = Answer {
            to_tag: Some("bt"),
            contact: Some("<sip:bob@b.invalid;transport=ws>"),
            ..Answer::default()
        };
        let resp = Message::parse(&response(&req, 180, "Ringing", &answer)).unwrap();
        assert_eq!(resp.status(), Some(180));
        assert_eq!(resp.tag("to").unwrap().as_deref(), Some("bt"));
        assert_eq!(resp.header("via"), req.header("via"));
        assert_eq!(resp.cseq().unwrap(), (3, "INVITE".into()));
        assert!(resp.body.is_empty());
    }
}
