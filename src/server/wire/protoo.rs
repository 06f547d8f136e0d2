//! protoo at the connection boundary. Requests are `{"request":true,"id":N,"method":op,
//! "data":{…}}`; a success is `{"response":true,"id":N,"ok":true,"data":{…}}` (no `data` for ops without a result), a failure
//! `{"response":true,"id":N,"ok":false,"errorCode":code,"errorReason":reason}` where the
//! reason is the code's name in lower case with spaces (`room not exists`) and the
//! protocol's `error` text, when there is one, travels in `errorDetail`, and the result
//! some codes come with (10201 with the channel) in `data`. Pushes are
//! notifications `{"notification":true,"method":push,"data":{…}}`.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{Inbound, NativeOut, native_request, parse_native};

pub(super) fn inbound(text: &str) -> Inbound<'_> {
    let pass = || Inbound::Native(Cow::Borrowed(text));
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return pass();
    };
    if map.get("response") == Some(&Value::Bool(true)) {
        return Inbound::Ignore;
    }
    if map.get("request") != Some(&Value::Bool(true)) {
        return pass();
    }
    let Some(Value::String(method)) = map.remove("method") else {
        return pass();
    };
    let id = map.remove("id").unwrap_or(Value::Null);
    let params = map.remove("data");
    Inbound::Native(Cow::Owned(native_request(id, &method, params)))
}

/// `ROOM_NOT_EXISTS` → `room not exists`.
pub(crate) fn reason(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', " ")
}

pub(super) fn outbound(text: &str) -> String {
    let mut map = Map::new();
    match parse_native(text) {
        Some(NativeOut::Response {
            id,
            code,
            message,
            data,
            error,
        }) => {
            map.insert("response".into(), Value::Bool(true));
            map.insert("id".into(), id);
            if code == 200 {
                map.insert("ok".into(), Value::Bool(true));
                if let Some(data) = data {
                    map.insert("data".into(), data);
                }
            } else {
                map.insert("ok".into(), Value::Bool(false));
                map.insert("errorCode".into(), Value::from(code));
                map.insert("errorReason".into(), Value::String(reason(&message)));
                if let Some(e) = error {
                    map.insert("errorDetail".into(), e);
                }
                if let Some(d) = data {
                    map.insert("data".into(), d);
                }
            }
        }
        Some(NativeOut::Push(kind, rest)) => {
            map.insert("notification".into(), Value::Bool(true));
            map.insert("method".into(), Value::String(kind));
            map.insert("data".into(), Value::Object(rest));
        }
        None => return text.to_string(),
    }
    Value::Object(map).to_string()
}
