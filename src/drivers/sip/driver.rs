//! The SIP driver: upgrades with `Sec-WebSocket-Protocol: sip` (RFC 7118 §4), logs a
//! device in by REGISTERing its account (digest answered with the account's token or
//! `--password`), and logs it out with an un-REGISTER.

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::compose::Transport;
use super::vocabulary::{VOCABULARY, op, op_spec};
use super::wire::SipWire;
use crate::drivers::{Driver, Handshake, Identity, Login, Vocabulary, Wire};
use crate::runner::client::{Device, Exchange, Failed};

/// The SIP driver of one run.
#[derive(Clone, Debug)]
pub struct Sip {
    /// The SIP domain of every account (the target's host unless a register step says).
    pub domain: String,
    /// `WSS` for `wss://` targets.
    pub transport: Transport,
}

impl Sip {
    /// The driver for a `ws://` or `wss://` target: its host is the SIP domain.
    pub fn for_target(url: &str) -> Sip {
        let (rest, transport) = match url.strip_prefix("wss://") {
            Some(rest) => (rest, Transport::Wss),
            None => (url.strip_prefix("ws://").unwrap_or(url), Transport::Ws),
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or_default()),
            None => authority.split(':').next().unwrap_or_default().to_string(),
        };
        Sip {
            domain: host,
            transport,
        }
    }
}

impl Driver for Sip {
    fn vocabulary(&self) -> &'static Vocabulary {
        &VOCABULARY
    }

    fn handshake(&self, _who: Identity<'_>) -> Handshake {
        Handshake {
            subprotocols: vec!["sip".into()],
            ..Handshake::default()
        }
    }

    /// Codes by method and status, as the UAs saw them (see `ua::tally`): a step's
    /// reply alone would miss the challenges, the provisional responses and what the
    /// callee sent.
    fn counts_codes(&self) -> bool {
        true
    }

    fn wire(&self) -> Box<dyn Wire> {
        Box::new(SipWire::new(self.domain.clone(), self.transport))
    }

    fn login<'a>(
        &'a self,
        device: &'a Device,
        login: Login<'a>,
    ) -> BoxFuture<'a, Result<Exchange, Failed>> {
        Box::pin(async move {
            let mut params = match login.params {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            for (key, value) in [("user", login.who.account), ("password", login.who.token)] {
                params
                    .entry(key)
                    .or_insert_with(|| Value::String(value.to_string()));
            }
            device
                .request(
                    op_spec(op::REGISTER),
                    (&Value::Object(params)).into(),
                    login.timeout,
                )
                .await
        })
    }

    fn logout<'a>(&'a self, device: &'a Device, timeout: std::time::Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = device
                .request(
                    op_spec(op::UNREGISTER),
                    (&Value::Object(Default::default())).into(),
                    timeout,
                )
                .await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_is_the_targets_host() {
        let s = Sip::for_target("ws://127.0.0.1:5066/");
        assert_eq!(
            (s.domain.as_str(), s.transport),
            ("127.0.0.1", Transport::Ws)
        );
        let s = Sip::for_target("wss://sip.example.com/ws?x=1");
        assert_eq!(
            (s.domain.as_str(), s.transport),
            ("sip.example.com", Transport::Wss)
        );
        assert_eq!(Sip::for_target("ws://[::1]:8080").domain, "[::1]");
    }
}
