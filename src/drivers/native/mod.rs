//! The built-in driver: the framing of docs/protocol.md (`{"id","op","params"}` requests,
//! `{"id","code","message"}` replies, `{"push": …}` pushes), with the protocol's ops,
//! events and codes as its vocabulary.

mod decode;
mod params;
mod vocabulary;
mod wire;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::{Driver, Login, Vocabulary, Wire};
use crate::runner::client::{Device, Exchange, Failed};

pub use vocabulary::{VOCABULARY, event_spec, kind_spec, op_spec};
pub use wire::{NativeWire, classify};

/// The native driver.
#[derive(Clone, Copy, Debug, Default)]
pub struct Native;

impl Driver for Native {
    fn vocabulary(&self) -> &'static Vocabulary {
        &VOCABULARY
    }

    fn wire(&self) -> Box<dyn Wire> {
        Box::new(NativeWire::default())
    }

    fn login<'a>(
        &'a self,
        device: &'a Device,
        login: Login<'a>,
    ) -> BoxFuture<'a, Result<Exchange, Failed>> {
        Box::pin(async move {
            let params = login_params(login.params, login.who);
            device
                .request(
                    op_spec(crate::protocol::Op::Login),
                    (&params).into(),
                    login.timeout,
                )
                .await
        })
    }
}

/// The login params: the step's own, with `account`, `token` and `device` filled in from
/// `who` where the step does not set them (§P-3.1).
pub fn login_params(step: Value, who: super::Identity<'_>) -> Value {
    let mut params = match step {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    for (key, value) in [
        ("account", who.account),
        ("token", who.token),
        ("device", who.device),
    ] {
        params
            .entry(key)
            .or_insert_with(|| Value::String(value.to_string()));
    }
    Value::Object(params)
}
