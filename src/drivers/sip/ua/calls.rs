//! One call's state: the INVITE transaction's facts a CANCEL or ACK is built from, and
//! the dialog (tags, route set, remote target, CSeq) once the peer answered.

use tokio::time::Instant;

use super::Key;
use crate::drivers::sip::compose::{self, Answer, Draft, Transport};
use crate::drivers::sip::message::Message;

/// Which side of the call this UA is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE.
    Uac,
    /// We received it.
    Uas,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Uac => "outgoing",
            Role::Uas => "incoming",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallState {
    /// INVITE sent or received, nothing else yet.
    Calling,
    /// A provisional response went by.
    Early,
    /// CANCEL sent, waiting for the INVITE's final response.
    Cancelling,
    /// 2xx sent or received, ACK not yet.
    Answered,
    Confirmed,
    /// BYE sent.
    Terminating,
}

impl CallState {
    pub fn label(self) -> &'static str {
        match self {
            CallState::Calling => "calling",
            CallState::Early => "ringing",
            CallState::Cancelling => "cancelling",
            CallState::Answered => "answered, not acknowledged",
            CallState::Confirmed => "established",
            CallState::Terminating => "hanging up",
        }
    }
}

/// One call.
#[derive(Debug)]
pub struct Call {
    /// The Call-ID shared by both ends.
    pub call_id: String,
    /// Whether we placed or received it.
    pub role: Role,
    /// Where the call stands: what actions are possible.
    pub state: CallState,
    /// The key of our INVITE (UAC): its responses are reported under it.
    pub invite_key: Key,
    /// Our From (UAC) or To (UAS) header value, with our tag: the From of our requests.
    pub local: String,
    /// The peer's header value: the To of our requests (with its tag once known).
    pub remote: String,
    /// The peer's tag, once a response (UAC) or the INVITE (UAS) gave it.
    pub remote_tag: Option<String>,
    /// Our tag (UAS: the To tag we add to responses).
    pub local_tag: String,
    /// CSeq of our last request in this call.
    pub local_cseq: u32,
    /// CSeq of the INVITE, for its ACK.
    pub invite_cseq: u32,
    /// Route set (RFC 3261 §12.1): Record-Route, reversed for the UAC.
    pub route_set: Vec<String>,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: String,
    /// Send the 2xx ACK on arrival (otherwise an `ack` action does).
    pub auto_ack: bool,
    /// The top Via branch of our INVITE (UAC; CANCEL and non-2xx ACK reuse it).
    pub invite_branch: String,
    /// Our INVITE as last sent (UAC; the non-2xx ACK copies its Route set).
    pub invite_text: String,
    /// The ACK we sent for a 2xx, resent if the 2xx is retransmitted.
    pub ack_text: Option<String>,
    /// The INVITE we received (UAS): responses are built from it.
    pub invite: Option<Message>,
    /// A final response was sent (UAS) or received (UAC).
    pub final_status: Option<u16>,
    /// UAS: when a missing ACK ends the call.
    pub ack_deadline: Option<Instant>,
}

impl Call {
    pub fn outgoing(
        call_id: String,
        key: Key,
        uri: String,
        from: String,
        to: String,
        auto_ack: bool,
    ) -> Call {
        let local_tag = from
            .rsplit_once(";tag=")
            .map(|(_, t)| t.to_string())
            .unwrap_or_default();
        Call {
            call_id,
            role: Role::Uac,
            state: CallState::Calling,
            invite_key: key,
            local: from,
            remote: to,
            remote_tag: None,
            local_tag,
            local_cseq: 1,
            invite_cseq: 1,
            route_set: Vec::new(),
            remote_target: uri,
            auto_ack,
            invite_branch: String::new(),
            invite_text: String::new(),
            ack_text: None,
            invite: None,
            final_status: None,
            ack_deadline: None,
        }
    }

    /// A call for a received INVITE (already checked to be well formed).
    pub fn incoming(invite: Message) -> Result<Call, String> {
        let remote_tag = invite.tag("from").map_err(|e| e.to_string())?;
        let local_tag = super::token();
        let to = invite.header("to").unwrap_or_default();
        let remote_target = match invite.addr("contact").map_err(|e| e.to_string())? {
            Some(addr) => addr.uri().to_string(),
            None => return Err("INVITE without Contact".into()),
        };
        let route_set = invite
            .addr_list("record-route")
            .map_err(|e| e.to_string())?
            .iter()
            .map(ToString::to_string)
            .collect();
        let (cseq, _) = invite.cseq().map_err(|e| e.to_string())?;
        Ok(Call {
            call_id: invite.call_id().to_string(),
            role: Role::Uas,
            state: CallState::Calling,
            invite_key: 0,
            local: format!("{to};tag={local_tag}"),
            remote: invite.header("from").unwrap_or_default().to_string(),
            remote_tag,
            local_tag,
            local_cseq: 1,
            invite_cseq: cseq,
            route_set,
            remote_target,
            auto_ack: false,
            invite_branch: invite.top_via().ok().flatten().unwrap_or_default(),
            invite_text: String::new(),
            ack_text: None,
            invite: Some(invite),
            final_status: None,
            ack_deadline: None,
        })
    }

    /// Learns the dialog from a response to our INVITE carrying a To tag (RFC 3261
    /// §12.1.2): remote tag, remote target, route set (Record-Route reversed).
    pub fn learn(&mut self, response: &Message) -> Result<(), String> {
        let Some(tag) = response.tag("to").map_err(|e| e.to_string())? else {
            return Ok(());
        };
        if let Some(addr) = response.addr("contact").map_err(|e| e.to_string())? {
            self.remote_target = addr.uri().to_string();
        }
        let mut routes: Vec<String> = response
            .addr_list("record-route")
            .map_err(|e| e.to_string())?
            .iter()
            .map(ToString::to_string)
            .collect();
        routes.reverse();
        self.route_set = routes;
        self.remote = response.header("to").unwrap_or_default().to_string();
        self.remote_tag = Some(tag);
        Ok(())
    }

    /// A request inside the dialog (RFC 3261 §12.2.1.1): to the remote target via the
    /// route set, or, when the first route is a strict router (no `lr`), to it.
    pub fn in_dialog(&self, method: &str) -> Draft {
        let loose = self.route_set.first().is_none_or(|r| r.contains(";lr"));
        let (uri, routes) = if loose {
            (self.remote_target.clone(), self.route_set.clone())
        } else {
            let first = &self.route_set[0];
            let uri = first
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_string();
            let mut routes: Vec<String> = self.route_set[1..].to_vec();
            routes.push(format!("<{}>", self.remote_target));
            (uri, routes)
        };
        Draft {
            method: method.into(),
            uri,
            from: self.local.clone(),
            to: self.remote.clone(),
            call_id: self.call_id.clone(),
            routes,
            contact: None,
            extra: Vec::new(),
            body: None,
        }
    }

    /// The ACK for a 2xx: a new transaction to the remote target (RFC 3261 §13.2.2.4).
    pub fn ack_for_2xx(&mut self, transport: Transport, host: &str) -> String {
        let draft = self.in_dialog("ACK");
        let branch = format!("z9hG4bK{}", super::token());
        let text = compose::request(&draft, transport, host, &branch, self.invite_cseq, None);
        self.ack_text = Some(text.clone());
        text
    }

    /// The ACK for a non-2xx final response: inside the INVITE's transaction (same
    /// branch, same Request-URI and Route, the response's To; RFC 3261 §17.1.1.3).
    pub fn ack_for_failure(&self, response: &Message, transport: Transport, host: &str) -> String {
        let invite = Message::parse(&self.invite_text).ok();
        let (uri, routes) = match &invite {
            Some(m) => (
                match &m.start {
                    crate::drivers::sip::message::StartLine::Request { uri, .. } => uri.clone(),
                    _ => self.remote_target.clone(),
                },
                m.headers_named("route").map(str::to_string).collect(),
            ),
            None => (self.remote_target.clone(), Vec::new()),
        };
        let draft = Draft {
            method: "ACK".into(),
            uri,
            from: self.local.clone(),
            to: response.header("to").unwrap_or_default().to_string(),
            call_id: self.call_id.clone(),
            routes,
            contact: None,
            extra: Vec::new(),
            body: None,
        };
        compose::request(
            &draft,
            transport,
            host,
            &self.invite_branch,
            self.invite_cseq,
            None,
        )
    }

    /// A response to the received INVITE (UAS). 18x/2xx carry our tag, Contact and the
    /// Record-Route set; `sdp` adds the fixed answer.
    pub fn reply(&mut self, status: u16, contact: &str, sdp: bool) -> Result<String, String> {
        if let Some(done) = self.final_status {
            return Err(format!(
                "the INVITE of call '{}' was already answered with {done}",
                self.call_id
            ));
        }
        let invite = self.invite.as_ref().ok_or("not an incoming call")?;
        let body = compose::sdp(u64::from(self.invite_cseq));
        let dialog = (101..300).contains(&status);
        let answer = Answer {
            to_tag: Some(&self.local_tag),
            contact: dialog.then_some(contact),
            record_route: dialog,
            extra: if status == 405 {
                &[("Allow", compose::ALLOW)]
            } else {
                &[]
            },
            body: sdp.then_some(("application/sdp", body.as_str())),
        };
        let text = compose::response(invite, status, reason(status), &answer);
        if status >= 200 {
            self.final_status = Some(status);
        } else {
            self.state = CallState::Early;
        }
        Ok(text)
    }
}

/// The standard reason phrase of a status (RFC 3261 §21 and common extensions).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "Unknown",
    }
}
