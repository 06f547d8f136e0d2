//! Foreign framings at the connection boundary (`serve --wire`): the server runs the
//! protocol of docs/protocol.md; a [`WireState`] turns each inbound text frame of another
//! framing into a native request and each outbound native frame into that framing, so
//! nothing behind the connection task knows the envelope exists.
//!
//! - `sigbench`: the native framing, untouched (no parsing, no copy).
//! - [`jsonrpc`]: JSON-RPC 2.0 (requests `sig.<op>`, errors `{code, message, data}`, pushes
//!   as server requests the client acknowledges).
//! - [`protoo`]: protoo (`request`/`response`/`notification` flags, `ok`, `errorReason`).
//!
//! Frames the translation cannot read pass through unchanged, so the server's own
//! checks answer them (400 `BAD_FRAME`), and that answer is translated back.

mod jsonrpc;
mod protoo;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

/// The framing a server speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    #[default]
    Sigbench,
    JsonRpc,
    Protoo,
}

impl Wire {
    pub const ALL: [Wire; 3] = [Wire::Sigbench, Wire::JsonRpc, Wire::Protoo];

    pub const fn as_str(self) -> &'static str {
        match self {
            Wire::Sigbench => "sigbench",
            Wire::JsonRpc => "jsonrpc",
            Wire::Protoo => "protoo",
        }
    }
}

impl fmt::Display for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Wire {
    type Err = String;
    fn from_str(s: &str) -> Result<Wire, String> {
        Wire::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| format!("unknown wire '{s}' (wires: sigbench, jsonrpc, protoo)"))
    }
}

/// What an inbound frame becomes.
pub(crate) enum Inbound<'a> {
    /// Handle this text as a native frame.
    Native(Cow<'a, str>),
    /// Nothing to do (the client's answer to a server request).
    Ignore,
}

/// One connection's translation state.
#[derive(Debug)]
pub(crate) struct WireState {
    wire: Wire,
    /// Ids of the server requests that carry pushes (JSON-RPC needs one per request).
    next_push: u64,
}

impl WireState {
    pub(crate) fn new(wire: Wire) -> WireState {
        WireState { wire, next_push: 1 }
    }

    /// A client frame as native text.
    pub(crate) fn inbound<'a>(&mut self, text: &'a str) -> Inbound<'a> {
        match self.wire {
            Wire::Sigbench => Inbound::Native(Cow::Borrowed(text)),
            Wire::JsonRpc => jsonrpc::inbound(text),
            Wire::Protoo => protoo::inbound(text),
        }
    }

    /// A native server frame in this connection's framing.
    pub(crate) fn outbound(&mut self, text: &str) -> Option<String> {
        match self.wire {
            Wire::Sigbench => None,
            Wire::JsonRpc => Some(jsonrpc::outbound(text, &mut self.next_push)),
            Wire::Protoo => Some(protoo::outbound(text)),
        }
    }
}

/// A native frame the server wrote, taken apart. Our own frames always parse; anything
/// else is passed on as it is.
enum NativeOut {
    Response {
        id: Value,
        code: u64,
        message: String,
        data: Option<Value>,
        error: Option<Value>,
    },
    /// `push` name and the other fields.
    Push(String, Map<String, Value>),
}

fn parse_native(text: &str) -> Option<NativeOut> {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    if let Some(Value::String(kind)) = map.remove("push") {
        return Some(NativeOut::Push(kind, map));
    }
    let code = map.get("code")?.as_u64()?;
    let message = map.get("message")?.as_str()?.to_string();
    Some(NativeOut::Response {
        id: map.remove("id").unwrap_or(Value::Null),
        code,
        message,
        data: map.remove("data").filter(|d| !d.is_null()),
        error: map.remove("error").filter(|e| !e.is_null()),
    })
}

/// A native request frame.
fn native_request(id: Value, op: &str, params: Option<Value>) -> String {
    let mut map = Map::new();
    map.insert("id".into(), id);
    map.insert("op".into(), Value::String(op.to_string()));
    if let Some(p) = params {
        map.insert("params".into(), p);
    }
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn native(state: &mut WireState, text: &str) -> Option<Value> {
        match state.inbound(text) {
            Inbound::Native(t) => Some(serde_json::from_str(&t).unwrap_or(Value::Null)),
            Inbound::Ignore => None,
        }
    }

    fn out(state: &mut WireState, native: Value) -> Value {
        serde_json::from_str(&state.outbound(&native.to_string()).unwrap()).unwrap()
    }

    #[test]
    fn jsonrpc_round_trip() {
        let mut s = WireState::new(Wire::JsonRpc);
        assert_eq!(
            native(
                &mut s,
                r#"{"jsonrpc":"2.0","id":7,"method":"sig.query","params":{"channelId":"c"}}"#
            ),
            Some(json!({"id": 7, "op": "query", "params": {"channelId": "c"}}))
        );
        assert_eq!(
            native(&mut s, r#"{"jsonrpc":"2.0","id":"p1","result":{}}"#),
            None
        );
        assert_eq!(
            out(
                &mut s,
                json!({"id": 7, "code": 200, "message": "OK", "data": {"x": 1}})
            ),
            json!({"jsonrpc": "2.0", "id": 7, "result": {"x": 1}})
        );
        assert_eq!(
            out(
                &mut s,
                json!({"id": null, "code": 400, "message": "UNKNOWN_OP", "error": "unknown op 'x'"})
            ),
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32601, "message": "UNKNOWN_OP", "data": "unknown op 'x'"}})
        );
        assert_eq!(
            out(
                &mut s,
                json!({"id": 4, "code": 10201, "message": "PEER_NIM_OFFLINE", "data": {"channel": {}}})
            ),
            json!({"jsonrpc": "2.0", "id": 4, "error": {"code": 10201, "message": "PEER_NIM_OFFLINE", "data": {"channel": {}}}})
        );
        assert_eq!(
            out(
                &mut s,
                json!({"push": "kicked", "reason": "LOGIN_ELSEWHERE"})
            ),
            json!({"jsonrpc": "2.0", "id": "s1", "method": "sig.kicked", "params": {"reason": "LOGIN_ELSEWHERE"}})
        );
        // Not JSON-RPC: passed on for the server's own 400.
        assert_eq!(native(&mut s, "nope"), Some(Value::Null));
    }

    #[test]
    fn protoo_round_trip() {
        let mut s = WireState::new(Wire::Protoo);
        assert_eq!(
            native(
                &mut s,
                r#"{"request":true,"id":3,"method":"create","data":{"type":1}}"#
            ),
            Some(json!({"id": 3, "op": "create", "params": {"type": 1}}))
        );
        assert_eq!(
            out(&mut s, json!({"id": 3, "code": 200, "message": "OK"})),
            json!({"response": true, "id": 3, "ok": true})
        );
        assert_eq!(
            out(
                &mut s,
                json!({"id": 3, "code": 10404, "message": "ROOM_NOT_EXISTS"})
            ),
            json!({"response": true, "id": 3, "ok": false, "errorCode": 10404, "errorReason": "room not exists"})
        );
        assert_eq!(
            out(
                &mut s,
                json!({"id": 3, "code": 414, "message": "PARAM_ERROR", "error": "channelId"})
            ),
            json!({"response": true, "id": 3, "ok": false, "errorCode": 414, "errorReason": "param error", "errorDetail": "channelId"})
        );
        assert_eq!(
            out(
                &mut s,
                json!({"push": "notify", "event": {"eventType": "INVITE"}})
            ),
            json!({"notification": true, "method": "notify", "data": {"event": {"eventType": "INVITE"}}})
        );
    }
}
