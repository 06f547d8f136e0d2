//! Wire profiles: a YAML file that describes a JSON-over-WebSocket protocol (its request
//! envelope, correlation, result codes, pushes, login, keepalive and the answers it owes)
//! so sigbench can drive a server without code. docs/profiles.md documents the language.
//!
//! A profile keeps the built-in vocabulary (ops, events, code names), so a scenario means
//! the same under every profile; only the framing changes. Loading compiles the YAML
//! once ([`compile`]) into field paths, frame templates and lookup tables ([`frame`]);
//! the per-connection [`wire`] then never parses a template or a rule again.

mod compile;
mod frame;
mod wire;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use self::frame::{Condition, Pattern, Template};
use super::native::VOCABULARY;
use super::{Driver, Handshake, Identity, Login, OpSpec, Vocabulary, Wire};
use crate::protocol::PushKind;
use crate::runner::client::{ClientError, Device, Exchange, Failed};
use crate::scenario::{JsonPath, ScenarioError};

pub use compile::{load_file, load_str};

/// A compiled wire profile.
#[derive(Debug)]
pub struct Profile {
    /// `name:` (defaults to the file stem).
    pub name: String,
    /// The file it was loaded from.
    pub file: String,
    /// `framing: builtin`: the profile writes down the framing of docs/protocol.md, so
    /// conformance cases about that framing (P-1, P-2) apply to it.
    pub builtin_framing: bool,
    subprotocols: Vec<String>,
    /// Extra upgrade headers; placeholders `{account}`, `{token}`, `{device}`.
    headers: Vec<(String, Pattern)>,
    query: Option<Pattern>,
    requests: Requests,
    ids: Ids,
    responses: Responses,
    result: ResultRules,
    pushes: PushRules,
    login: LoginRules,
    keepalive: Option<Keepalive>,
    /// `(when, reply)`: frames answered at once.
    auto_replies: Vec<(Condition, Template)>,
}

/// How requests look.
#[derive(Debug)]
struct Requests {
    /// The frame of each op, by op id.
    frames: Vec<Template>,
    /// JSON text of each op's method name, by op id.
    methods: Vec<String>,
    /// The default frame (login `method:` steps and keepalive requests use it).
    default: Template,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdForm {
    Integer,
    String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdSource {
    Counter,
    Random,
}

/// How request ids are made and read back.
#[derive(Debug)]
struct Ids {
    path: JsonPath,
    form: IdForm,
    source: IdSource,
    /// Prefix of string ids (`r-` makes `r-1`, `r-2`, …).
    prefix: String,
}

/// How replies are recognised.
#[derive(Debug)]
struct Responses {
    when: Condition,
    /// Frames that acknowledge a request before its answer: skipped.
    ack: Option<Condition>,
}

/// How a reply's outcome is read.
#[derive(Debug)]
struct ResultRules {
    success: Condition,
    /// Where a failure's code is (number or string), mapped through `codes`.
    code: JsonPath,
    codes: HashMap<String, &'static crate::drivers::CodeSpec>,
    /// Where `result.codes` is written, for failure messages.
    codes_at: String,
    data: Option<JsonPath>,
    /// Where the result that comes with a failure code is (an object), if any.
    failure_data: Option<JsonPath>,
    /// Where a failure's explanation is (text: the reply's `error`).
    error: Option<JsonPath>,
}

/// How pushes are recognised and reshaped.
#[derive(Debug)]
struct PushRules {
    when: Condition,
    kind: JsonPath,
    /// Server kind value → push kind; empty: the values are sigbench's kind names.
    kinds: HashMap<String, PushKind>,
    kinds_at: String,
    /// Where the payload is (`None`: the whole frame).
    body: Option<JsonPath>,
    /// `(sigbench path, server path)`, applied to the payload.
    fields: Vec<(JsonPath, JsonPath)>,
}

/// One request of the login exchange.
#[derive(Debug)]
struct LoginStepRule {
    what: LoginWhat,
    /// Params: text with placeholders (`{account}`, `{token}`, `{device}`, saved
    /// names), or constants.
    params: Vec<(String, ParamRule)>,
    /// Values saved from the raw reply: `(variable index, path)`.
    save: Vec<(usize, JsonPath)>,
    /// Receives the login step's own params from the scenario (the `op: login` step).
    takes_step_params: bool,
}

#[derive(Debug)]
enum ParamRule {
    Text(Pattern),
    Const(Value),
}

#[derive(Debug)]
enum LoginWhat {
    Op(&'static OpSpec),
    /// A method outside the vocabulary, sent with the default frame.
    Method(String),
}

#[derive(Debug)]
struct LoginRules {
    /// `token: {static: …}` replaces the run's token.
    static_token: Option<String>,
    steps: Vec<LoginStepRule>,
    /// Names of the login variables: account, token, device, then saved names.
    vars: Vec<String>,
    /// `syncs:`: pushes the server sends right after a login.
    syncs: Vec<PushKind>,
}

#[derive(Debug)]
struct Keepalive {
    every: Duration,
    what: KeepaliveWhat,
}

#[derive(Debug)]
enum KeepaliveWhat {
    /// A constant frame.
    Frame(String),
    /// A request with this method (JSON text) and params; its answer is dropped.
    Method(String, Value),
}

/// A loaded profile as a plan holds it (equal when it is the same load).
#[derive(Clone, Debug)]
pub struct ProfileRef(pub Arc<Profile>);

impl PartialEq for ProfileRef {
    fn eq(&self, other: &ProfileRef) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The driver of a profile: the built-in vocabulary over the profile's framing.
#[derive(Clone, Debug)]
pub struct ProfileDriver {
    profile: Arc<Profile>,
}

impl ProfileDriver {
    pub fn new(profile: Arc<Profile>) -> ProfileDriver {
        ProfileDriver { profile }
    }
}

impl Profile {
    /// Loads and compiles a profile file; every mistake, located.
    pub fn load(path: &Path) -> Result<Profile, Vec<ScenarioError>> {
        load_file(path)
    }

    fn identity_values<'a>(&'a self, who: Identity<'a>) -> [&'a str; 3] {
        let token = self.login.static_token.as_deref().unwrap_or(who.token);
        [who.account, token, who.device]
    }
}

impl Driver for ProfileDriver {
    fn vocabulary(&self) -> &'static Vocabulary {
        &VOCABULARY
    }

    fn handshake(&self, who: Identity<'_>) -> Handshake {
        let p = &self.profile;
        let values = p.identity_values(who);
        Handshake {
            subprotocols: p.subprotocols.clone(),
            headers: p
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.render(&values)))
                .collect(),
            query: p.query.as_ref().map(|q| q.render(&values)),
        }
    }

    fn wire(&self) -> Box<dyn Wire> {
        Box::new(wire::ProfileWire::new(self.profile.clone()))
    }

    fn login<'a>(
        &'a self,
        device: &'a Device,
        login: Login<'a>,
    ) -> BoxFuture<'a, Result<Exchange, Failed>> {
        Box::pin(self.run_login(device, login))
    }

    fn login_syncs(&self) -> Vec<&'static crate::drivers::KindSpec> {
        self.profile
            .login
            .syncs
            .iter()
            .map(|k| crate::drivers::native::kind_spec(*k))
            .collect()
    }
}

impl ProfileDriver {
    /// Runs the login steps in order; a step answered with a failure ends the exchange
    /// (its reply decides). Values saved from one reply feed the next step's params.
    async fn run_login(&self, device: &Device, login: Login<'_>) -> Result<Exchange, Failed> {
        let rules = &self.profile.login;
        let first = self.profile.identity_values(login.who);
        let mut values: Vec<String> = first.iter().map(|s| s.to_string()).collect();
        values.resize(rules.vars.len(), String::new());
        let mut typed: Vec<Option<Value>> = vec![None; rules.vars.len()];
        let step_params = match login.params {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let mut last = None;
        for step in &rules.steps {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let mut params = Map::new();
            for (key, rule) in &step.params {
                let value = match rule {
                    ParamRule::Const(v) => v.clone(),
                    ParamRule::Text(pattern) => {
                        match pattern.only_var().and_then(|i| typed[i].clone()) {
                            Some(v) => v,
                            None => Value::String(pattern.render(&refs)),
                        }
                    }
                };
                params.insert(key.clone(), value);
            }
            if step.takes_step_params {
                for (k, v) in &step_params {
                    params.insert(k.clone(), v.clone());
                }
            }
            let params = Value::Object(params);
            let exchange = match &step.what {
                LoginWhat::Op(op) => device.request(op, (&params).into(), login.timeout).await?,
                LoginWhat::Method(name) => {
                    device
                        .request_internal(name, &params, login.timeout)
                        .await?
                }
            };
            if exchange.response.frame.code != VOCABULARY.ok_code {
                return Ok(exchange);
            }
            if !step.save.is_empty() {
                let raw: Value = serde_json::from_str(&exchange.response.text).unwrap_or_default();
                for (var, path) in &step.save {
                    let Some(v) = path.get(&raw) else {
                        return Err(Failed {
                            request: exchange.request.clone(),
                            error: ClientError::Protocol(format!(
                                "login: no value at '{path}' to save as '{}' in {}",
                                rules.vars[*var],
                                crate::runner::client::truncate(&exchange.response.text)
                            )),
                        });
                    };
                    values[*var] = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    typed[*var] = Some(v.clone());
                }
            }
            last = Some(exchange);
        }
        last.ok_or_else(|| Failed {
            request: "(login)".into(),
            error: ClientError::Protocol("the profile's login has no steps".into()),
        })
    }
}
