//! The actions a scenario takes on the UA: register, invite, cancel, ack, bye, and the
//! responses to an incoming INVITE (ring, answer, reject). Each returns the text to send.

use tokio::time::Instant;

use super::{
    Attempt, Call, CallState, ClientTx, Key, MAX_CALLS, Origin, Role, TRANSACTION_TIMEOUT, Ua,
    token,
};
use crate::drivers::sip::compose::{self, Draft};

impl Ua {
    /// REGISTER our contact for `expires` seconds (0: un-REGISTER).
    pub fn register(&mut self, now: Instant, expires: u32) -> Result<(Key, String), String> {
        let key = self.new_key();
        let text = self.send_register(now, key, Origin::Step, expires)?;
        Ok((key, text))
    }

    pub(super) fn send_register(
        &mut self,
        now: Instant,
        key: Key,
        origin: Origin,
        expires: u32,
    ) -> Result<String, String> {
        let reg = &mut self.registration;
        reg.cseq += 1;
        reg.asked = expires;
        reg.in_flight = true;
        let cseq = reg.cseq;
        let aor = self.aor();
        let draft = Draft {
            method: "REGISTER".into(),
            uri: format!("sip:{}", self.config.domain),
            from: format!("<{aor}>;tag={}", token()),
            to: format!("<{aor}>"),
            call_id: self.registration.call_id.clone(),
            routes: Vec::new(),
            contact: Some(self.contact.clone()),
            extra: vec![("Expires".into(), expires.to_string())],
            body: None,
        };
        self.start(now, key, origin, draft, cseq, Attempt::default())
    }

    /// INVITE `to` (a user of our domain or a `sip:` URI) with extra headers and an SDP
    /// offer (or `body` as given). Returns the key and the Call-ID.
    pub fn invite(
        &mut self,
        now: Instant,
        to: &str,
        extra: Vec<(String, String)>,
        body: Option<(String, String)>,
        auto_ack: bool,
    ) -> Result<(Key, String, String), String> {
        if self.calls() >= MAX_CALLS {
            return Err(format!("{MAX_CALLS} calls are open on this connection"));
        }
        let key = self.new_key();
        let call_id = token();
        let uri = self.uri_of(to);
        let local_tag = token();
        let from = format!("<{}>;tag={local_tag}", self.aor());
        let to_header = format!("<{uri}>");
        let body = body.or_else(|| Some(("application/sdp".into(), compose::sdp(key))));
        let draft = Draft {
            method: "INVITE".into(),
            uri: uri.clone(),
            from: from.clone(),
            to: to_header.clone(),
            call_id: call_id.clone(),
            routes: Vec::new(),
            contact: Some(self.contact.clone()),
            extra,
            body,
        };
        self.uac.insert(
            call_id.clone(),
            Call::outgoing(call_id.clone(), key, uri, from, to_header, auto_ack),
        );
        self.latest = Some((Role::Uac, call_id.clone()));
        match self.start(now, key, Origin::Step, draft, 1, Attempt::default()) {
            Ok(text) => Ok((key, call_id, text)),
            Err(e) => {
                self.uac.remove(&call_id);
                Err(e)
            }
        }
    }

    /// The call an action names, or the latest one of `role`.
    fn pick(&self, role: Role, call_id: Option<&str>) -> Result<String, String> {
        let map = match role {
            Role::Uac => &self.uac,
            Role::Uas => &self.uas,
        };
        match call_id {
            Some(id) if map.contains_key(id) => Ok(id.to_string()),
            Some(id) => Err(format!("no {} call with Call-ID '{id}'", role.label())),
            None => match &self.latest {
                Some((r, id)) if *r == role && map.contains_key(id) => Ok(id.clone()),
                _ => map
                    .keys()
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("no {} call", role.label())),
            },
        }
    }

    /// CANCEL our pending INVITE (RFC 3261 §9.1): same branch, Call-ID, From, To and
    /// CSeq number as the INVITE.
    pub fn cancel(&mut self, now: Instant, call_id: Option<&str>) -> Result<(Key, String), String> {
        let id = self.pick(Role::Uac, call_id)?;
        let call = &self.uac[&id];
        let invite_key = format!("{} INVITE", call.invite_branch);
        let Some(tx) = self.clients.get_mut(&invite_key) else {
            return Err(format!(
                "the INVITE of call '{id}' already got its final response ({})",
                call.state.label()
            ));
        };
        // The INVITE must now end within 64 × T1 (RFC 3261 §9.1).
        tx.deadline = now + TRANSACTION_TIMEOUT;
        let draft = Draft {
            method: "CANCEL".into(),
            uri: tx.draft.uri.clone(),
            from: tx.draft.from.clone(),
            to: tx.draft.to.clone(),
            call_id: id.clone(),
            routes: tx.draft.routes.clone(),
            contact: None,
            extra: Vec::new(),
            body: None,
        };
        let cseq = tx.cseq;
        let branch = call.invite_branch.clone();
        let text = compose::request(
            &draft,
            self.config.transport,
            &self.host,
            &branch,
            cseq,
            None,
        );
        let key = self.new_key();
        self.clients.insert(
            format!("{branch} CANCEL"),
            ClientTx {
                key,
                origin: Origin::Step,
                draft,
                cseq,
                deadline: now + TRANSACTION_TIMEOUT,
                proceeding: false,
                retries: 0,
                fresh_answers: 0,
            },
        );
        if let Some(call) = self.uac.get_mut(&id) {
            call.state = CallState::Cancelling;
        }
        Ok((key, text))
    }

    /// The ACK for our call's 2xx (end to end, RFC 3261 §13.2.2.4) when it is not sent
    /// automatically.
    pub fn ack(&mut self, call_id: Option<&str>) -> Result<String, String> {
        let id = self.pick(Role::Uac, call_id)?;
        let call = self.uac.get_mut(&id).expect("picked");
        if call.state != CallState::Answered {
            return Err(format!(
                "call '{id}' has no 2xx to acknowledge ({})",
                call.state.label()
            ));
        }
        let text = call.ack_for_2xx(self.config.transport, &self.host);
        call.state = CallState::Confirmed;
        Ok(text)
    }

    /// BYE the call (either role): the call ends when the BYE is answered.
    pub fn bye(&mut self, now: Instant, call_id: Option<&str>) -> Result<(Key, String), String> {
        let (role, id) = match call_id {
            Some(id) if self.uac.contains_key(id) => (Role::Uac, id.to_string()),
            Some(id) if self.uas.contains_key(id) => (Role::Uas, id.to_string()),
            Some(id) => return Err(format!("no call with Call-ID '{id}'")),
            None => match &self.latest {
                Some((r, id)) if self.call(*r, id).is_some() => (*r, id.clone()),
                _ => return Err("no call to hang up".into()),
            },
        };
        self.bye_as(now, role, &id, Origin::Step)
    }

    pub(super) fn bye_as(
        &mut self,
        now: Instant,
        role: Role,
        id: &str,
        origin: Origin,
    ) -> Result<(Key, String), String> {
        let map = match role {
            Role::Uac => &mut self.uac,
            Role::Uas => &mut self.uas,
        };
        let call = map.get_mut(id).ok_or_else(|| format!("no call '{id}'"))?;
        if !matches!(call.state, CallState::Answered | CallState::Confirmed) {
            return Err(format!(
                "call '{id}' is not established ({})",
                call.state.label()
            ));
        }
        call.local_cseq += 1;
        call.state = CallState::Terminating;
        let cseq = call.local_cseq;
        let draft = call.in_dialog("BYE");
        let key = self.new_key();
        let text = self.start(now, key, origin, draft, cseq, Attempt::default())?;
        Ok((key, text))
    }

    /// Sends a provisional response (180 Ringing, 183 Session Progress) to the
    /// incoming INVITE; 183 carries the SDP answer.
    pub fn ring(&mut self, call_id: Option<&str>, status: u16) -> Result<String, String> {
        if !(101..200).contains(&status) {
            return Err(format!("{status} is not a provisional status (101..199)"));
        }
        let id = self.pick(Role::Uas, call_id)?;
        let contact = self.contact.clone();
        let call = self.uas.get_mut(&id).expect("picked");
        let text = call.reply(status, &contact, status == 183)?;
        self.tally.count("INVITE", true, status);
        Ok(text)
    }

    /// Answers the incoming INVITE with 200 and the SDP answer; the call waits for
    /// the ACK.
    pub fn answer(&mut self, now: Instant, call_id: Option<&str>) -> Result<String, String> {
        let id = self.pick(Role::Uas, call_id)?;
        let contact = self.contact.clone();
        let call = self.uas.get_mut(&id).expect("picked");
        let text = call.reply(200, &contact, true)?;
        self.tally.count("INVITE", true, 200);
        call.state = CallState::Answered;
        call.ack_deadline = Some(now + TRANSACTION_TIMEOUT);
        Ok(text)
    }

    /// Rejects the incoming INVITE with a final status (300..699); the call ends when
    /// the proxy's ACK arrives (or at once: that ACK carries nothing we need).
    pub fn reject(&mut self, call_id: Option<&str>, status: u16) -> Result<String, String> {
        if !(300..700).contains(&status) {
            return Err(format!("{status} is not a rejection status (300..699)"));
        }
        let id = self.pick(Role::Uas, call_id)?;
        let contact = self.contact.clone();
        let call = self.uas.get_mut(&id).expect("picked");
        let text = call.reply(status, &contact, false)?;
        self.tally.count("INVITE", true, status);
        self.uas.remove(&id);
        Ok(text)
    }
}
