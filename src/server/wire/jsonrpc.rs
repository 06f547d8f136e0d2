//! JSON-RPC 2.0 at the connection boundary. Requests are `{"jsonrpc":"2.0","id":N,
//! "method":"sig.<op>","params":{…}}` with integer ids; a success is `{"result": data}`, a
//! failure `{"error":{"code","message","data"}}` where `code` is the protocol's number
//! except for the three JSON-RPC has its own for (-32600 `BAD_FRAME`, -32601
//! `UNKNOWN_OP`, -32602 `PARAM_ERROR`) and `data` the protocol's `error` text or, for
//! codes that come with a result (10201 with the channel), that result. Pushes
//! are server requests `{"id":"sN","method":"sig.<push>","params":{…}}`; the client's
//! answers to them are read and dropped.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::{Inbound, NativeOut, native_request, parse_native};

/// The method prefix of every op and push.
const PREFIX: &str = "sig.";

pub(super) fn inbound(text: &str) -> Inbound<'_> {
    let pass = || Inbound::Native(Cow::Borrowed(text));
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return pass();
    };
    if !map.contains_key("method") && (map.contains_key("result") || map.contains_key("error")) {
        return Inbound::Ignore;
    }
    let Some(Value::String(method)) = map.get("method") else {
        return pass();
    };
    let op = method.strip_prefix(PREFIX).unwrap_or(method).to_string();
    let id = map.remove("id").unwrap_or(Value::Null);
    let params = map.remove("params");
    Inbound::Native(Cow::Owned(native_request(id, &op, params)))
}

/// The JSON-RPC error code of a protocol code.
fn rpc_code(code: u64, message: &str) -> i64 {
    match message {
        "BAD_FRAME" => -32600,
        "UNKNOWN_OP" => -32601,
        "PARAM_ERROR" => -32602,
        _ => i64::try_from(code).unwrap_or(i64::MAX),
    }
}

pub(super) fn outbound(text: &str, next_push: &mut u64) -> String {
    match parse_native(text) {
        Some(NativeOut::Response {
            id,
            code,
            message,
            data,
            error,
        }) => {
            if code == 200 {
                json!({"jsonrpc": "2.0", "id": id, "result": data.unwrap_or(Value::Null)})
            } else {
                let mut err = Map::new();
                err.insert("code".into(), Value::from(rpc_code(code, &message)));
                err.insert("message".into(), Value::String(message));
                // `data` is the explanation (text) or the result that comes with
                // the code (10201 with the channel); the protocol never has both.
                if let Some(d) = error.or(data) {
                    err.insert("data".into(), d);
                }
                json!({"jsonrpc": "2.0", "id": id, "error": err})
            }
            .to_string()
        }
        Some(NativeOut::Push(kind, rest)) => {
            let id = format!("s{next_push}");
            *next_push += 1;
            json!({"jsonrpc": "2.0", "id": id, "method": format!("{PREFIX}{kind}"), "params": rest})
                .to_string()
        }
        None => text.to_string(),
    }
}
