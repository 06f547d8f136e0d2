//! Profile YAML → [`Profile`]: every key checked (unknown keys get a did-you-mean),
//! every name resolved against the built-in vocabulary, every path and template
//! compiled. Errors carry file:line:column, like scenario errors.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

use super::frame::{Condition, Pattern, Template, Test, json};
use super::{
    IdForm, IdSource, Ids, Keepalive, KeepaliveWhat, LoginRules, LoginStepRule, LoginWhat,
    ParamRule, Profile, PushRules, Requests, Responses, ResultRules,
};
use crate::drivers::OpRole;
use crate::drivers::native::VOCABULARY;
use crate::protocol::PushKind;
use crate::scenario::node::{self, Node, Span, Value as Y};
use crate::scenario::{Cx, ErrorKind, Fields, JsonPath, ScenarioError, did_you_mean};

const TOP_KEYS: [&str; 11] = [
    "name",
    "framing",
    "connect",
    "login",
    "requests",
    "correlation",
    "responses",
    "result",
    "pushes",
    "keepalive",
    "auto_replies",
];

/// Loads a profile file.
pub fn load_file(path: &Path) -> Result<Profile, Vec<ScenarioError>> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&name, &text),
        Err(e) => Err(vec![ScenarioError {
            file: name,
            location: None,
            message: format!("cannot read the profile: {e}"),
            kind: ErrorKind::Io,
        }]),
    }
}

/// Compiles profile text; `file` names it in errors.
pub fn load_str(file: &str, text: &str) -> Result<Profile, Vec<ScenarioError>> {
    let root = node::parse_file(file, text)?;
    let mut p = P {
        cx: Cx::for_file(file),
        file,
    };
    let profile = p.profile(&root);
    let errors = p.cx.into_errors();
    match profile {
        Some(profile) if errors.is_empty() => Ok(profile),
        _ => Err(errors),
    }
}

struct P<'a> {
    cx: Cx<'a>,
    file: &'a str,
}

/// The placeholders of a request frame.
const REQUEST_HOLES: [&str; 3] = ["$id", "$method", "$params"];

impl P<'_> {
    fn at(&self, span: Span) -> String {
        match span {
            Span::At { line, col } => format!("{}:{line}:{col}", self.file),
            _ => self.file.to_string(),
        }
    }

    fn required<'n>(&mut self, f: &Fields<'n>, key: &str, section: &str) -> Option<&'n Node> {
        let node = f.get(key);
        if node.is_none() {
            self.cx.error(f.span, format!("{section} needs '{key}'"));
        }
        node
    }

    fn section<'n>(&mut self, top: &Fields<'n>, key: &str, keys: &[&str]) -> Option<Fields<'n>> {
        let node = top.get(key)?;
        let f = self.cx.map(node, key)?;
        self.cx.check_keys(&f, keys, key);
        Some(f)
    }

    fn profile(&mut self, root: &Node) -> Option<Profile> {
        let top = self.cx.map(root, "a profile")?;
        self.cx.check_keys(&top, &TOP_KEYS, "the profile");
        let name = top
            .get("name")
            .and_then(|n| self.cx.string(n, "name"))
            .unwrap_or_else(|| {
                Path::new(self.file).file_stem().map_or_else(
                    || self.file.to_string(),
                    |s| s.to_string_lossy().into_owned(),
                )
            });
        let builtin_framing = match top.get("framing") {
            Some(n) => match self.cx.string(n, "framing").as_deref() {
                Some("builtin") => true,
                Some("own") => false,
                Some(other) => {
                    let hint = did_you_mean(other, ["builtin", "own"]);
                    self.cx.error(
                        n.span,
                        format!("framing must be builtin or own, got '{other}'{hint}"),
                    );
                    false
                }
                None => false,
            },
            None => false,
        };
        for key in ["requests", "correlation", "responses", "result", "pushes"] {
            if !top.has(key) {
                self.cx
                    .error(top.span, format!("missing '{key}' (see docs/profiles.md)"));
            }
        }
        let subprotocols = self.connect(&top);
        let (headers, query, login) = self.login(&top);
        let requests = self.requests(&top);
        let ids = self.correlation(&top);
        let responses = self.responses(&top);
        let result = self.result(&top);
        let pushes = self.pushes(&top);
        let keepalive = self.keepalive(&top);
        let auto_replies = self.auto_replies(&top);
        Some(Profile {
            name,
            file: self.file.to_string(),
            builtin_framing,
            subprotocols: subprotocols?,
            headers: headers?,
            query: query?,
            requests: requests?,
            ids: ids?,
            responses: responses?,
            result: result?,
            pushes: pushes?,
            login: login?,
            keepalive: keepalive?,
            auto_replies: auto_replies?,
        })
    }

    fn connect(&mut self, top: &Fields<'_>) -> Option<Vec<String>> {
        let Some(f) = self.section(top, "connect", &["subprotocols"]) else {
            return top.get("connect").is_none().then(Vec::new);
        };
        match f.get("subprotocols") {
            None => Some(Vec::new()),
            Some(n) => self.strings(n, "connect.subprotocols"),
        }
    }

    fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        match &node.value {
            Y::Seq(items) => items.iter().map(|i| self.cx.string(i, what)).collect(),
            _ => self.cx.string(node, what).map(|s| vec![s]),
        }
    }

    fn path(&mut self, node: &Node, what: &str) -> Option<JsonPath> {
        let text = self.cx.string(node, what)?;
        JsonPath::parse(&text)
            .map_err(|e| self.cx.error(node.span, format!("{what}: {e}")))
            .ok()
    }

    fn pattern(&mut self, node: &Node, vars: &[String], what: &str) -> Option<Pattern> {
        let text = match node.value.scalar_text() {
            Some(t) if !matches!(node.value, Y::Null) => t,
            _ => {
                self.cx.error(
                    node.span,
                    format!("{what} must be text, found {}", node.value.kind()),
                );
                return None;
            }
        };
        Pattern::compile(&text, vars)
            .map_err(|e| self.cx.error(node.span, format!("{what}: {e}")))
            .ok()
    }

    fn template(&mut self, node: &Node, allowed: &[&str], what: &str) -> Option<Template> {
        if !matches!(node.value, Y::Map(_)) {
            self.cx.error(
                node.span,
                format!(
                    "{what} must be a mapping (the frame's shape), found {}",
                    node.value.kind()
                ),
            );
            return None;
        }
        Template::compile(&node.to_json(), allowed)
            .map_err(|e| self.cx.error(node.span, format!("{what}: {e}")))
            .ok()
    }

    /// `when:` — `{path: test, …}` (all hold) or a list of those (any holds).
    fn condition(&mut self, node: &Node, what: &str) -> Option<Condition> {
        let alternatives: Vec<&Node> = match &node.value {
            Y::Seq(items) if !items.is_empty() => items.iter().collect(),
            Y::Map(_) => vec![node],
            _ => {
                self.cx.error(
                    node.span,
                    format!("{what} must be a mapping of field tests (e.g. {{result: $present}}) or a list of them"),
                );
                return None;
            }
        };
        let mut any = Vec::new();
        for alt in alternatives {
            let f = self.cx.map(alt, what)?;
            if f.entries.is_empty() {
                self.cx.error(
                    alt.span,
                    format!("{what}: an empty test matches every frame"),
                );
                return None;
            }
            let mut all = Vec::new();
            for (key, value) in f.entries {
                let Ok(path) = JsonPath::parse(&key.name) else {
                    self.cx
                        .error(key.span, format!("{what}: bad path '{}'", key.name));
                    return None;
                };
                let test = match &value.value {
                    Y::Str(s) if s == "$present" => Test::Present,
                    Y::Str(s) if s == "$absent" => Test::Absent,
                    Y::Str(s) if s.starts_with('$') && !s.starts_with("$$") => {
                        let hint = did_you_mean(s, ["$present", "$absent"]);
                        self.cx.error(
                            value.span,
                            format!("{what}: unknown test '{s}'{hint} (tests: $present, $absent, or a value to equal)"),
                        );
                        return None;
                    }
                    Y::Str(s) if s.starts_with("$$") => Test::Equals(Value::from(&s[1..])),
                    _ => Test::Equals(value.to_json()),
                };
                all.push((path, test));
            }
            any.push(all);
        }
        Some(Condition {
            any,
            at: self.at(node.span),
        })
    }

    fn op(&mut self, key: &str, span: Span, what: &str) -> Option<&'static crate::drivers::OpSpec> {
        let op = VOCABULARY.op(key);
        if op.is_none() {
            let hint = did_you_mean(key, VOCABULARY.ops.iter().map(|o| o.name));
            self.cx
                .error(span, format!("{what}: unknown op '{key}'{hint}"));
        }
        op
    }

    fn requests(&mut self, top: &Fields<'_>) -> Option<Requests> {
        let f = self.section(
            top,
            "requests",
            &["frame", "methods", "method_prefix", "frames"],
        )?;
        let frame = self.required(&f, "frame", "requests");
        let default = self.template(frame?, &REQUEST_HOLES, "requests.frame")?;
        let frame_node = frame?;
        for (hole, why) in [
            (
                super::frame::Hole::Id,
                "$id (replies could not be matched to requests)",
            ),
            (
                super::frame::Hole::Method,
                "$method (the op would not be sent)",
            ),
        ] {
            if !default.has(&hole) {
                self.cx
                    .error(frame_node.span, format!("requests.frame has no {why}"));
            }
        }
        let prefix = match f.get("method_prefix") {
            Some(n) => self.cx.string(n, "requests.method_prefix")?,
            None => String::new(),
        };
        let mut methods: Vec<String> = VOCABULARY
            .ops
            .iter()
            .map(|o| json(&Value::from(format!("{prefix}{}", o.name))))
            .collect();
        let mut frames: Vec<Template> = vec![default.clone(); VOCABULARY.ops.len()];
        if let Some(n) = f.get("methods") {
            let m = self.cx.map(n, "requests.methods")?;
            for (key, value) in m.entries {
                let op = self.op(&key.name, key.span, "requests.methods");
                let name = self.cx.string(value, "a method name");
                if let (Some(op), Some(name)) = (op, name) {
                    methods[usize::from(op.id)] = json(&Value::from(name));
                }
            }
        }
        if let Some(n) = f.get("frames") {
            let m = self.cx.map(n, "requests.frames")?;
            for (key, value) in m.entries {
                let op = self.op(&key.name, key.span, "requests.frames");
                let t = self.template(value, &REQUEST_HOLES, "a request frame");
                if let (Some(op), Some(t)) = (op, t) {
                    frames[usize::from(op.id)] = t;
                }
            }
        }
        Some(Requests {
            frames,
            methods,
            default,
        })
    }

    fn correlation(&mut self, top: &Fields<'_>) -> Option<Ids> {
        let f = self.section(top, "correlation", &["id", "form", "source", "prefix"])?;
        let path = self.required(&f, "id", "correlation");
        let path = self.path(path?, "correlation.id")?;
        let form = match f.get("form") {
            None => IdForm::Integer,
            Some(n) => match self.cx.string(n, "correlation.form")?.as_str() {
                "integer" => IdForm::Integer,
                "string" => IdForm::String,
                other => {
                    let hint = did_you_mean(other, ["integer", "string"]);
                    self.cx.error(
                        n.span,
                        format!("correlation.form must be integer or string, got '{other}'{hint}"),
                    );
                    return None;
                }
            },
        };
        let source = match f.get("source") {
            None => IdSource::Counter,
            Some(n) => match self.cx.string(n, "correlation.source")?.as_str() {
                "counter" => IdSource::Counter,
                "random" => IdSource::Random,
                other => {
                    let hint = did_you_mean(other, ["counter", "random"]);
                    self.cx.error(
                        n.span,
                        format!(
                            "correlation.source must be counter or random, got '{other}'{hint}"
                        ),
                    );
                    return None;
                }
            },
        };
        let prefix = match f.get("prefix") {
            Some(n) if form == IdForm::String => self.cx.string(n, "correlation.prefix")?,
            Some(n) => {
                self.cx
                    .error(n.span, "correlation.prefix needs form: string");
                return None;
            }
            None => String::new(),
        };
        Some(Ids {
            path,
            form,
            source,
            prefix,
        })
    }

    fn responses(&mut self, top: &Fields<'_>) -> Option<Responses> {
        let f = self.section(top, "responses", &["when", "ack"])?;
        let when = self.required(&f, "when", "responses");
        let when = self.condition(when?, "responses.when")?;
        let ack = match f.get("ack") {
            Some(n) => Some(self.condition(n, "responses.ack")?),
            None => None,
        };
        Some(Responses { when, ack })
    }

    fn result(&mut self, top: &Fields<'_>) -> Option<ResultRules> {
        let f = self.section(
            top,
            "result",
            &["success", "code", "codes", "data", "failure_data", "error"],
        )?;
        let success = self
            .required(&f, "success", "result")
            .and_then(|n| self.condition(n, "result.success"));
        let code = self
            .required(&f, "code", "result")
            .and_then(|n| self.path(n, "result.code"));
        let data = match f.get("data") {
            Some(n) => Some(self.path(n, "result.data")?),
            None => None,
        };
        let failure_data = match f.get("failure_data") {
            Some(n) => Some(self.path(n, "result.failure_data")?),
            None => None,
        };
        let error = match f.get("error") {
            Some(n) => Some(self.path(n, "result.error")?),
            None => None,
        };
        let codes_node = self.required(&f, "codes", "result")?;
        let m = self.cx.map(codes_node, "result.codes")?;
        let mut codes = HashMap::new();
        let mut ok = true;
        for (key, value) in m.entries {
            let Some(name) = self.cx.string(value, "a code name") else {
                ok = false;
                continue;
            };
            match VOCABULARY.code(&name) {
                Some(spec) => {
                    codes.insert(key.name.clone(), spec);
                }
                None => {
                    let hint = did_you_mean(&name, VOCABULARY.codes.iter().map(|c| c.name));
                    self.cx.error(
                        value.span,
                        format!(
                            "result.codes: '{}' maps to unknown code name '{name}'{hint}",
                            key.name
                        ),
                    );
                    ok = false;
                }
            }
        }
        let codes_at = self.at(codes_node.span);
        (ok).then_some(())?;
        Some(ResultRules {
            success: success?,
            code: code?,
            codes,
            codes_at,
            data,
            failure_data,
            error,
        })
    }

    fn pushes(&mut self, top: &Fields<'_>) -> Option<PushRules> {
        let f = self.section(top, "pushes", &["when", "kind", "kinds", "body", "fields"])?;
        let when = self
            .required(&f, "when", "pushes")
            .and_then(|n| self.condition(n, "pushes.when"));
        let kind = self
            .required(&f, "kind", "pushes")
            .and_then(|n| self.path(n, "pushes.kind"));
        let body = match f.get("body") {
            Some(n) => Some(self.path(n, "pushes.body")?),
            None => None,
        };
        let mut kinds = HashMap::new();
        let kinds_at = f
            .get("kinds")
            .map_or_else(|| self.at(f.span), |n| self.at(n.span));
        if let Some(n) = f.get("kinds") {
            let m = self.cx.map(n, "pushes.kinds")?;
            for (key, value) in m.entries {
                let Some(name) = self.cx.string(value, "a push kind") else {
                    continue;
                };
                match PushKind::from_str(&name) {
                    Ok(k) => {
                        kinds.insert(key.name.clone(), k);
                    }
                    Err(()) => {
                        let hint = did_you_mean(&name, PushKind::ALL.iter().map(|k| k.as_str()));
                        self.cx.error(
                            value.span,
                            format!(
                                "pushes.kinds: '{}' maps to unknown push kind '{name}'{hint}",
                                key.name
                            ),
                        );
                    }
                }
            }
        }
        let mut fields = Vec::new();
        if let Some(n) = f.get("fields") {
            let m = self.cx.map(n, "pushes.fields")?;
            for (key, value) in m.entries {
                let target = JsonPath::parse(&key.name)
                    .map_err(|e| self.cx.error(key.span, format!("pushes.fields: {e}")))
                    .ok();
                let source = self.path(value, "pushes.fields");
                if let (Some(t), Some(s)) = (target, source) {
                    fields.push((t, s));
                }
            }
        }
        Some(PushRules {
            when: when?,
            kind: kind?,
            kinds,
            kinds_at,
            body,
            fields,
        })
    }

    #[allow(clippy::type_complexity)]
    fn login(
        &mut self,
        top: &Fields<'_>,
    ) -> (
        Option<Vec<(String, Pattern)>>,
        Option<Option<Pattern>>,
        Option<LoginRules>,
    ) {
        let mut vars: Vec<String> = ["account", "token", "device"].map(String::from).to_vec();
        let login_op = VOCABULARY
            .ops
            .iter()
            .find(|o| o.role == OpRole::Login)
            .expect("the native vocabulary has a login op");
        let default_steps = || {
            vec![LoginStepRule {
                what: LoginWhat::Op(login_op),
                params: ["account", "token", "device"]
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        (
                            k.to_string(),
                            ParamRule::Text(Pattern(vec![super::frame::Piece::Var(i)])),
                        )
                    })
                    .collect(),
                save: Vec::new(),
                takes_step_params: true,
            }]
        };
        let Some(f) = self.section(
            top,
            "login",
            &["token", "headers", "query", "steps", "syncs"],
        ) else {
            if top.get("login").is_some() {
                return (None, None, None);
            }
            return (
                Some(Vec::new()),
                Some(None),
                Some(LoginRules {
                    static_token: None,
                    steps: default_steps(),
                    vars,
                    syncs: Vec::new(),
                }),
            );
        };
        let static_token = match f.get("token") {
            None => Some(None),
            Some(n) => match &n.value {
                Y::Str(s) if s == "run" => Some(None),
                Y::Map(_) => self.cx.map(n, "login.token").and_then(|t| {
                    self.cx.check_keys(&t, &["static"], "login.token");
                    let v = self.required(&t, "static", "login.token")?;
                    self.cx.string(v, "login.token.static").map(Some)
                }),
                _ => {
                    self.cx.error(
                        n.span,
                        "login.token must be 'run' (the HMAC token or the accounts CSV) or {static: TOKEN}",
                    );
                    None
                }
            },
        };
        let identity = vars.clone();
        let headers = match f.get("headers") {
            None => Some(Vec::new()),
            Some(n) => self.cx.map(n, "login.headers").and_then(|m| {
                m.entries
                    .iter()
                    .map(|(k, v)| {
                        Some((
                            k.name.clone(),
                            self.pattern(v, &identity, "a header value")?,
                        ))
                    })
                    .collect::<Option<Vec<_>>>()
            }),
        };
        let query = match f.get("query") {
            None => Some(None),
            Some(n) => self.pattern(n, &identity, "login.query").map(Some),
        };
        let steps = match f.get("steps") {
            None => Some(default_steps()),
            Some(n) => self.login_steps(n, &mut vars),
        };
        let syncs = match f.get("syncs") {
            None => Some(Vec::new()),
            Some(n) => self.strings(n, "login.syncs").and_then(|names| {
                let kinds: Vec<Option<PushKind>> = names
                    .iter()
                    .map(|name| {
                        let kind = PushKind::from_str(name).ok();
                        if kind.is_none() {
                            let hint = did_you_mean(name, PushKind::ALL.iter().map(|k| k.as_str()));
                            self.cx.error(
                                n.span,
                                format!("login.syncs: unknown push kind '{name}'{hint}"),
                            );
                        }
                        kind
                    })
                    .collect();
                kinds.into_iter().collect()
            }),
        };
        let login = match (static_token, steps, syncs) {
            (Some(static_token), Some(steps), Some(syncs)) => Some(LoginRules {
                static_token,
                steps,
                vars,
                syncs,
            }),
            _ => None,
        };
        (headers, query, login)
    }

    fn login_steps(&mut self, node: &Node, vars: &mut Vec<String>) -> Option<Vec<LoginStepRule>> {
        let Y::Seq(items) = &node.value else {
            self.cx.error(
                node.span,
                format!("login.steps must be a list, found {}", node.value.kind()),
            );
            return None;
        };
        if items.is_empty() {
            self.cx.error(node.span, "login.steps must not be empty");
            return None;
        }
        let mut steps = Vec::new();
        for item in items {
            let f = self.cx.map(item, "a login step")?;
            self.cx
                .check_keys(&f, &["op", "method", "params", "save"], "a login step");
            let what = match (f.get("op"), f.get("method")) {
                (Some(n), None) => {
                    let name = self.cx.string(n, "op")?;
                    LoginWhat::Op(self.op(&name, n.span, "login.steps")?)
                }
                (None, Some(n)) => LoginWhat::Method(self.cx.string(n, "method")?),
                _ => {
                    self.cx.error(item.span, "a login step has either 'op' (an op such as login) or 'method' (any method name)");
                    return None;
                }
            };
            let mut params = Vec::new();
            if let Some(n) = f.get("params") {
                let m = self.cx.map(n, "login step params")?;
                for (key, value) in m.entries {
                    let rule = match &value.value {
                        Y::Str(_) => ParamRule::Text(self.pattern(value, vars, "a login param")?),
                        _ => ParamRule::Const(value.to_json()),
                    };
                    params.push((key.name.clone(), rule));
                }
            }
            let mut save = Vec::new();
            if let Some(n) = f.get("save") {
                let m = self.cx.map(n, "login step save")?;
                for (key, value) in m.entries {
                    let path = self.path(value, "a save path")?;
                    let index = match vars.iter().position(|v| *v == key.name) {
                        Some(i) if i >= 3 => i,
                        Some(_) => {
                            self.cx.error(
                                key.span,
                                format!(
                                    "'{}' is set by the run; save under another name",
                                    key.name
                                ),
                            );
                            return None;
                        }
                        None => {
                            vars.push(key.name.clone());
                            vars.len() - 1
                        }
                    };
                    save.push((index, path));
                }
            }
            steps.push(LoginStepRule {
                what,
                params,
                save,
                takes_step_params: false,
            });
        }
        let target = steps
            .iter()
            .position(|s| matches!(s.what, LoginWhat::Op(op) if op.role == OpRole::Login))
            .unwrap_or(steps.len() - 1);
        steps[target].takes_step_params = true;
        Some(steps)
    }

    fn keepalive(&mut self, top: &Fields<'_>) -> Option<Option<Keepalive>> {
        let Some(f) = self.section(top, "keepalive", &["every", "frame", "method", "params"])
        else {
            return top.get("keepalive").is_none().then_some(None);
        };
        let every = self
            .required(&f, "every", "keepalive")
            .and_then(|n| self.cx.nonzero_duration(n, "keepalive.every"));
        let what = match (f.get("frame"), f.get("method")) {
            (Some(n), None) => {
                if !matches!(n.value, Y::Map(_)) {
                    self.cx.error(
                        n.span,
                        "keepalive.frame must be a mapping (the frame to send)",
                    );
                    return None;
                }
                Some(KeepaliveWhat::Frame(json(&n.to_json())))
            }
            (None, Some(n)) => {
                let method = self.cx.string(n, "keepalive.method")?;
                let params = f
                    .get("params")
                    .map_or(Value::Object(Default::default()), Node::to_json);
                Some(KeepaliveWhat::Method(json(&Value::from(method)), params))
            }
            _ => {
                self.cx.error(f.span, "keepalive needs either 'frame' (sent as is) or 'method' (a request whose answer is dropped)");
                None
            }
        };
        Some(Some(Keepalive {
            every: every?,
            what: what?,
        }))
    }

    fn auto_replies(&mut self, top: &Fields<'_>) -> Option<Vec<(Condition, Template)>> {
        let Some(node) = top.get("auto_replies") else {
            return Some(Vec::new());
        };
        let Y::Seq(items) = &node.value else {
            self.cx.error(
                node.span,
                format!("auto_replies must be a list, found {}", node.value.kind()),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            let f = self.cx.map(item, "an auto reply")?;
            self.cx.check_keys(&f, &["when", "reply"], "an auto reply");
            let when = self
                .required(&f, "when", "an auto reply")
                .and_then(|n| self.condition(n, "auto_replies.when"));
            let reply = self
                .required(&f, "reply", "an auto reply")
                .and_then(|n| self.template(n, &["$request.PATH"], "auto_replies.reply"));
            out.push((when?, reply?));
        }
        Some(out)
    }
}
