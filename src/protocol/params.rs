//! Param validation (§P-2.5, §P-3.2, §P-4.4, §P-4.5): from a request's `params` object
//! to a typed request, or a 414 naming the first bad param.

use serde_json::{Map, Value};
use std::fmt;

use super::json::{Json, Object};
use super::model::PushInfo;
use super::op::Op;

/// A param is missing, mistyped or too long: answered with 414 `PARAM_ERROR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("param '{param}': {reason}")]
pub struct ParamError {
    pub param: &'static str,
    pub reason: String,
}

fn err<T>(param: &'static str, reason: impl Into<String>) -> Result<T, ParamError> {
    Err(ParamError {
        param,
        reason: reason.into(),
    })
}

/// Limits of §P-4.5 and §P-4.4, in Unicode code points unless noted.
pub mod limits {
    pub const ACCOUNT: usize = 64;
    pub const CHANNEL_NAME: usize = 128;
    pub const CHANNEL_ID: usize = 128;
    pub const EXT: usize = 4096;
    pub const ATTACH_EXT: usize = 4096;
    pub const REQUEST_ID: usize = 128;
    pub const PUSH_TITLE: usize = 32;
    pub const PUSH_CONTENT: usize = 500;
    /// Bytes of the payload as compact UTF-8 JSON.
    pub const PUSH_PAYLOAD_BYTES: usize = 4096;
    pub const TOKEN: usize = 1024;
    pub const PUSH_TOKEN: usize = 1024;
    pub const MSGIDS: usize = 1000;
}

/// True when `s` is 1–64 chars of `[A-Za-z0-9_.@-]` (§P-3.2).
pub fn is_valid_account(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= limits::ACCOUNT
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'))
}

/// A request's `params` object; `null` values count as absent. `'a` is the lifetime of
/// the frame's text when the params were parsed from one.
#[derive(Debug, Default, Clone)]
pub struct Params<'a>(Object<'a>);

impl Params<'_> {
    /// Params given as a `serde_json` map.
    pub fn new(map: Map<String, Value>) -> Params<'static> {
        Params(Object::from_map(map))
    }

    /// Params parsed from a frame's text.
    pub fn from_object(object: Object<'_>) -> Params<'_> {
        Params(object)
    }

    fn get(&self, name: &str) -> Option<&Json<'_>> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn opt_str(&self, name: &'static str, max_chars: usize) -> Result<Option<String>, ParamError> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) => {
                // No more characters than bytes: most strings need no counting.
                if s.len() > max_chars && s.chars().count() > max_chars {
                    err(name, format!("longer than {max_chars} characters"))
                } else {
                    Ok(Some(s.to_string()))
                }
            }
            Some(_) => err(name, "must be a string"),
        }
    }

    fn req_str(&self, name: &'static str, max_chars: usize) -> Result<String, ParamError> {
        match self.opt_str(name, max_chars)? {
            None => err(name, "missing"),
            Some(s) if s.is_empty() => err(name, "must not be empty"),
            Some(s) => Ok(s),
        }
    }

    fn opt_account(&self, name: &'static str) -> Result<Option<String>, ParamError> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::String(s)) if is_valid_account(s) => Ok(Some(s.to_string())),
            Some(Json::String(_)) => err(name, "must be 1-64 characters of [A-Za-z0-9_.@-]"),
            Some(_) => err(name, "must be a string"),
        }
    }

    fn req_account(&self, name: &'static str) -> Result<String, ParamError> {
        self.opt_account(name)?
            .map_or_else(|| err(name, "missing"), Ok)
    }

    fn opt_bool(&self, name: &'static str) -> Result<Option<bool>, ParamError> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(*b)),
            Some(_) => err(name, "must be a boolean"),
        }
    }

    fn flag(&self, name: &'static str) -> Result<bool, ParamError> {
        Ok(self.opt_bool(name)?.unwrap_or(false))
    }

    fn opt_uid(&self) -> Result<Option<i64>, ParamError> {
        match self.get("uid") {
            None => Ok(None),
            Some(Json::Number(n)) => match n.as_i64() {
                Some(uid) => Ok(Some(uid)),
                None if n.as_u64().is_some() => err("uid", "out of range"),
                None => err("uid", "must be an integer"),
            },
            Some(_) => err("uid", "must be an integer"),
        }
    }

    fn kind(&self) -> Result<u8, ParamError> {
        match self.get("type") {
            None => err("type", "missing"),
            Some(v) => match v.as_u64() {
                Some(k @ 1..=3) => Ok(k as u8),
                _ => err("type", "must be 1 (audio), 2 (video) or 3 (custom)"),
            },
        }
    }

    fn channel_name(&self) -> Result<Option<String>, ParamError> {
        Ok(self
            .opt_str("channelName", limits::CHANNEL_NAME)?
            .filter(|s| !s.is_empty()))
    }

    fn channel_id(&self) -> Result<String, ParamError> {
        self.req_str("channelId", limits::CHANNEL_ID)
    }

    fn request_id(&self) -> Result<String, ParamError> {
        self.req_str("requestId", limits::REQUEST_ID)
    }

    fn attach_ext(&self, name: &'static str) -> Result<Option<String>, ParamError> {
        self.opt_str(name, limits::ATTACH_EXT)
    }

    fn push_info(&self) -> Result<Option<PushInfo>, ParamError> {
        const NAME: &str = "pushInfo";
        let map = match self.get(NAME) {
            None => return Ok(None),
            Some(Json::Object(m)) => Params(m.clone()),
            Some(_) => return err(NAME, "must be an object"),
        };
        let nested = |e: ParamError| ParamError {
            param: NAME,
            reason: format!("{}: {}", e.param, e.reason),
        };
        let need_push = map.opt_bool("needPush").map_err(nested)?.unwrap_or(false);
        let need_badge = map.opt_bool("needBadge").map_err(nested)?.unwrap_or(true);
        let push_title = map
            .opt_str("pushTitle", limits::PUSH_TITLE)
            .map_err(nested)?;
        let push_content = map
            .opt_str("pushContent", limits::PUSH_CONTENT)
            .map_err(nested)?;
        let push_payload = match map.get("pushPayload") {
            None => None,
            Some(v @ Json::Object(_)) => Some(v.to_value()),
            Some(Json::String(s)) => {
                let parsed: Value = serde_json::from_str(s).map_err(|_| ParamError {
                    param: NAME,
                    reason: "pushPayload: string is not valid JSON text".into(),
                })?;
                if serde_json::to_string(&parsed).map_or(0, |t| t.len())
                    > limits::PUSH_PAYLOAD_BYTES
                {
                    return err(NAME, "pushPayload: longer than 4096 bytes as compact JSON");
                }
                Some(Value::String(s.to_string()))
            }
            Some(_) => return err(NAME, "pushPayload: must be an object or a JSON string"),
        };
        if let Some(v @ Value::Object(_)) = &push_payload
            && serde_json::to_string(v).map_or(0, |t| t.len()) > limits::PUSH_PAYLOAD_BYTES
        {
            return err(NAME, "pushPayload: longer than 4096 bytes as compact JSON");
        }
        Ok(Some(PushInfo {
            need_push,
            push_title,
            push_content,
            push_payload,
            need_badge,
        }))
    }
}

/// `login` (§P-3.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub account: String,
    pub token: String,
    pub device: String,
    pub push_token: Option<String>,
}

/// `create` (§P-5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Create {
    pub kind: u8,
    pub channel_name: Option<String>,
    pub ext: Option<String>,
}

/// `join` (§P-5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub channel_id: String,
    pub uid: Option<i64>,
    pub offline_enabled: bool,
    pub attach_ext: Option<String>,
}

/// `leave` and `close` (§P-5.3, §P-5.4).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelAction {
    pub channel_id: String,
    pub offline_enabled: bool,
    pub attach_ext: Option<String>,
}

/// `query` (§P-5.5): `channelId` wins when both are given.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    ById(String),
    ByName(String),
}

/// `invite` (§P-6.1).
#[derive(Debug, Clone, PartialEq)]
pub struct Invite {
    pub channel_id: String,
    pub account: String,
    pub request_id: String,
    pub offline_enabled: bool,
    pub attach_ext: Option<String>,
    pub push_info: Option<PushInfo>,
}

/// `cancel` and `reject` (§P-6.2, §P-6.3); `account` is the other party.
#[derive(Debug, Clone, PartialEq)]
pub struct InviteAction {
    pub channel_id: String,
    pub account: String,
    pub request_id: String,
    pub offline_enabled: bool,
    pub attach_ext: Option<String>,
}

/// `accept` (§P-6.4).
#[derive(Debug, Clone, PartialEq)]
pub struct Accept {
    pub action: InviteAction,
    pub auto_join: bool,
    pub uid: Option<i64>,
    pub join_attach_ext: Option<String>,
}

/// `call` (§P-6.5).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub kind: u8,
    pub channel_name: Option<String>,
    pub ext: Option<String>,
    pub uid: Option<i64>,
    pub account: String,
    pub request_id: String,
    pub offline_enabled: bool,
    pub attach_ext: Option<String>,
    pub push_info: Option<PushInfo>,
}

/// `control` (§P-6.7).
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub channel_id: String,
    pub account: Option<String>,
    pub attach_ext: Option<String>,
}

/// A request with validated params.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Login(Login),
    Create(Create),
    Join(Join),
    Leave(ChannelAction),
    Close(ChannelAction),
    Query(Query),
    Delay { channel_id: String },
    Invite(Invite),
    Cancel(InviteAction),
    Reject(InviteAction),
    Accept(Accept),
    Call(Call),
    Control(Control),
    MarkRead { msgids: Vec<String> },
}

impl Request {
    /// Validates `params` for `op`; params are checked in the order `Op::params` lists them.
    pub fn parse(op: Op, p: &Params) -> Result<Request, ParamError> {
        Ok(match op {
            Op::Login => Request::Login(Login {
                account: p.req_account("account")?,
                token: p.req_str("token", limits::TOKEN)?,
                device: p
                    .opt_account("device")?
                    .unwrap_or_else(|| "default".to_string()),
                push_token: match p.opt_str("pushToken", limits::PUSH_TOKEN)? {
                    Some(t) if t.is_empty() => return err("pushToken", "must not be empty"),
                    t => t,
                },
            }),
            Op::Create => Request::Create(Create {
                kind: p.kind()?,
                channel_name: p.channel_name()?,
                ext: p.opt_str("ext", limits::EXT)?,
            }),
            Op::Join => Request::Join(Join {
                channel_id: p.channel_id()?,
                uid: p.opt_uid()?,
                offline_enabled: p.flag("offlineEnabled")?,
                attach_ext: p.attach_ext("attachExt")?,
            }),
            Op::Leave => Request::Leave(channel_action(p)?),
            Op::Close => Request::Close(channel_action(p)?),
            Op::Query => {
                let name = p.channel_name()?;
                match p.get("channelId") {
                    Some(_) => Request::Query(Query::ById(p.channel_id()?)),
                    None => match name {
                        Some(name) => Request::Query(Query::ByName(name)),
                        None => return err("channelId", "missing (give channelId or channelName)"),
                    },
                }
            }
            Op::Delay => Request::Delay {
                channel_id: p.channel_id()?,
            },
            Op::Invite => Request::Invite(Invite {
                channel_id: p.channel_id()?,
                account: p.req_account("account")?,
                request_id: p.request_id()?,
                offline_enabled: p.flag("offlineEnabled")?,
                attach_ext: p.attach_ext("attachExt")?,
                push_info: p.push_info()?,
            }),
            Op::Cancel => Request::Cancel(invite_action(p)?),
            Op::Reject => Request::Reject(invite_action(p)?),
            Op::Accept => Request::Accept(Accept {
                action: invite_action(p)?,
                auto_join: p.flag("autoJoin")?,
                uid: p.opt_uid()?,
                join_attach_ext: p.attach_ext("joinAttachExt")?,
            }),
            Op::Call => Request::Call(Call {
                kind: p.kind()?,
                account: p.req_account("account")?,
                request_id: p.request_id()?,
                channel_name: p.channel_name()?,
                ext: p.opt_str("ext", limits::EXT)?,
                uid: p.opt_uid()?,
                offline_enabled: p.flag("offlineEnabled")?,
                attach_ext: p.attach_ext("attachExt")?,
                push_info: p.push_info()?,
            }),
            Op::Control => Request::Control(Control {
                channel_id: p.channel_id()?,
                account: p.opt_account("account")?,
                attach_ext: p.attach_ext("attachExt")?,
            }),
            Op::MarkRead => Request::MarkRead {
                msgids: match p.get("msgids") {
                    None => return err("msgids", "missing"),
                    Some(Json::Array(items)) if items.len() <= limits::MSGIDS => items
                        .iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .map_or_else(|| err("msgids", "must be an array of strings"), Ok)?,
                    Some(Json::Array(_)) => {
                        return err("msgids", format!("more than {} ids", limits::MSGIDS));
                    }
                    Some(_) => return err("msgids", "must be an array of strings"),
                },
            },
        })
    }
}

fn channel_action(p: &Params) -> Result<ChannelAction, ParamError> {
    Ok(ChannelAction {
        channel_id: p.channel_id()?,
        offline_enabled: p.flag("offlineEnabled")?,
        attach_ext: p.attach_ext("attachExt")?,
    })
}

fn invite_action(p: &Params) -> Result<InviteAction, ParamError> {
    Ok(InviteAction {
        channel_id: p.channel_id()?,
        account: p.req_account("account")?,
        request_id: p.request_id()?,
        offline_enabled: p.flag("offlineEnabled")?,
        attach_ext: p.attach_ext("attachExt")?,
    })
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(op: Op, v: Value) -> Result<Request, ParamError> {
        let Value::Object(m) = v else { panic!() };
        Request::parse(op, &Params::new(m))
    }

    fn param_of(op: Op, v: Value) -> &'static str {
        parse(op, v).unwrap_err().param
    }

    #[test]
    fn accounts_follow_the_charset_and_length_rule() {
        assert!(is_valid_account("a.b_c@d-9"));
        assert!(!is_valid_account(""));
        assert!(!is_valid_account("a b"));
        assert!(!is_valid_account("ä"));
        assert!(is_valid_account(&"x".repeat(64)));
        assert!(!is_valid_account(&"x".repeat(65)));
    }

    #[test]
    fn errors_name_the_first_bad_param() {
        assert_eq!(param_of(Op::Login, json!({"token": "t"})), "account");
        assert_eq!(param_of(Op::Login, json!({"account": ""})), "account");
        assert_eq!(param_of(Op::Login, json!({"account": "a"})), "token");
        assert_eq!(
            param_of(
                Op::Login,
                json!({"account": "a", "token": "t", "device": "x y"})
            ),
            "device"
        );
        assert_eq!(param_of(Op::Create, json!({"type": 4})), "type");
        assert_eq!(param_of(Op::Create, json!({"type": "2"})), "type");
        assert_eq!(
            param_of(
                Op::Create,
                json!({"type": 1, "channelName": "n".repeat(129)})
            ),
            "channelName"
        );
        assert_eq!(
            param_of(Op::Join, json!({"channelId": "c", "uid": 1.5})),
            "uid"
        );
        assert_eq!(
            param_of(
                Op::Invite,
                json!({"channelId": "c", "account": "b", "requestId": ""})
            ),
            "requestId"
        );
        assert_eq!(
            param_of(
                Op::Invite,
                json!({"channelId": "c", "account": "b", "requestId": "r", "pushInfo": {"pushTitle": "t".repeat(33)}})
            ),
            "pushInfo"
        );
        assert_eq!(param_of(Op::Query, json!({"channelName": ""})), "channelId");
        assert_eq!(param_of(Op::MarkRead, json!({"msgids": [1]})), "msgids");
    }

    #[test]
    fn limits_count_code_points_and_accept_the_boundary() {
        let name = "é".repeat(128);
        let r = parse(Op::Create, json!({"type": 3, "channelName": name})).unwrap();
        assert!(matches!(
            r,
            Request::Create(Create {
                channel_name: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn nulls_are_absent_and_defaults_fill_in() {
        let r = parse(
            Op::Login,
            json!({"account": "a", "token": "t", "device": null, "pushToken": null, "extra": 1}),
        )
        .unwrap();
        assert_eq!(
            r,
            Request::Login(Login {
                account: "a".into(),
                token: "t".into(),
                device: "default".into(),
                push_token: None
            })
        );
        let r = parse(
            Op::Invite,
            json!({"channelId": "c", "account": "b", "requestId": "r", "pushInfo": {"pushPayload": "{\"k\":1}"}}),
        )
        .unwrap();
        let Request::Invite(inv) = r else { panic!() };
        let info = inv.push_info.unwrap();
        assert!(!info.need_push && info.need_badge);
        assert_eq!(
            param_of(
                Op::Invite,
                json!({"channelId": "c", "account": "b", "requestId": "r", "pushInfo": {"pushPayload": "{"}})
            ),
            "pushInfo"
        );
    }

    #[test]
    fn query_prefers_channel_id() {
        assert_eq!(
            parse(Op::Query, json!({"channelId": "i", "channelName": "n"})).unwrap(),
            Request::Query(Query::ById("i".into()))
        );
        assert_eq!(
            parse(Op::Query, json!({"channelName": "n"})).unwrap(),
            Request::Query(Query::ByName("n".into()))
        );
    }
}
