//! Suite files: several cases in one YAML document, each a small scenario with a rule id
//! (`spec: P-6.2`), a one-line description and the server settings it needs.
//!
//! ```yaml
//! suite: p6-invitations
//! description: Invitations (§P-6).
//! defaults: { timeout: 2s, strict: true, roles: { alice: {}, bob: {} } }
//! cases:
//!   - name: invite-online
//!     spec: P-6.1
//!     description: An online invitee gets INVITE; the answer is 200.
//!     steps: [...]
//! ```
//!
//! `defaults` holds scenario keys shared by every case (a case's own keys win); each
//! case then compiles exactly like a scenario file whose name and description are the
//! case's, so every error is located in the suite file.

use std::collections::HashSet;

use super::compile::{self, CaseSettings, Cx, Fields};
use super::error::{ScenarioError, did_you_mean};
use super::node::{self, Key, Node, Span, Value};
use super::plan::Plan;
use super::settings::{Requirement, Setting, SettingKind, SettingValues};

const SUITE_KEYS: [&str; 4] = ["suite", "description", "defaults", "cases"];
/// Scenario keys a `defaults` block may set for every case.
const DEFAULT_KEYS: [&str; 6] = ["roles", "strict", "timeout", "load", "requires", "tier"];
/// Keys of a case besides the scenario keys it passes on.
const CASE_KEYS: [&str; 6] = ["name", "spec", "description", "requires", "tier", "framing"];
/// Scenario keys a case may have.
const SCENARIO_KEYS: [&str; 6] = ["roles", "strict", "timeout", "load", "steps", "thresholds"];

/// Where a case's rule comes from (`tier:` on a case or in `defaults`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// The signaling model itself: a server that breaks it is wrong (the default).
    #[default]
    Strict,
    /// A choice docs/protocol.md made where the model is silent, marked *(decided
    /// here)* there: another server may reasonably choose otherwise.
    NonStrict,
}

impl Tier {
    pub const fn name(self) -> &'static str {
        match self {
            Tier::Strict => "strict",
            Tier::NonStrict => "non-strict",
        }
    }
}

/// A loaded suite file.
#[derive(Clone, Debug, PartialEq)]
pub struct Suite {
    /// `suite:` (defaults to the file stem).
    pub name: String,
    pub description: String,
    pub cases: Vec<Case>,
}

/// One conformance case.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// Unique within the suite file, e.g. `invite-online`.
    pub name: String,
    /// The rule it checks, e.g. `P-6.1`.
    pub spec: String,
    /// One line.
    pub description: String,
    /// Settings the target must have for the case to run.
    pub requires: Vec<Requirement>,
    /// Whether the rule comes from the signaling model or is a choice of
    /// docs/protocol.md (a failure is then NON-STRICT unless `--strict`).
    pub tier: Tier,
    /// Line of the case in the suite file.
    pub line: u32,
    /// `framing: true`: the case is about the built-in framing itself (frame shapes,
    /// malformed frames; every case with a `raw` step). It runs only through drivers that
    /// speak that framing and is skipped under other wire profiles.
    pub framing: bool,
    /// The case as a runnable plan (name and description are the case's).
    pub plan: Plan,
}

/// Loads a suite, compiling every case with `settings` (durations that name a setting
/// use its value; an unknown value compiles to a placeholder). Returns every error.
pub fn check_suite_str(
    name_for_errors: &str,
    text: &str,
    settings: &SettingValues,
) -> Result<Suite, Vec<ScenarioError>> {
    let root = node::parse_file(name_for_errors, text)?;
    let stem = std::path::Path::new(name_for_errors)
        .file_stem()
        .map_or_else(
            || name_for_errors.to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
    let mut top = Cx::new(name_for_errors, &[]);
    let Some(fields) = top.map(&root, "a suite") else {
        return Err(top.into_errors());
    };
    top.check_keys(&fields, &SUITE_KEYS, "the suite");
    let name = fields
        .get("suite")
        .and_then(|n| top.string(n, "suite"))
        .unwrap_or(stem);
    let description = fields
        .get("description")
        .and_then(|n| top.string(n, "description"))
        .unwrap_or_default();
    let defaults: Vec<(Key, Node)> = match fields.get("defaults") {
        Some(n) => match top.map(n, "defaults") {
            Some(f) => {
                top.check_keys(&f, &DEFAULT_KEYS, "defaults");
                f.entries.to_vec()
            }
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let default_requires = defaults
        .iter()
        .find(|(k, _)| k.name == "requires")
        .and_then(|(_, n)| top.requires(n))
        .unwrap_or_default();
    let default_tier = defaults
        .iter()
        .find(|(k, _)| k.name == "tier")
        .and_then(|(_, n)| top.tier(n))
        .unwrap_or_default();
    let items = match fields.get("cases") {
        Some(Node {
            value: Value::Seq(items),
            ..
        }) if !items.is_empty() => items.as_slice(),
        Some(n) => {
            top.error(n.span, "cases must be a non-empty list of cases");
            &[]
        }
        None => {
            top.error(
                fields.span,
                "missing 'cases': the list of cases of this suite",
            );
            &[]
        }
    };
    let mut errors = Vec::new();
    let mut cases = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for item in items {
        let Some(case_fields) = top.map(item, "a case") else {
            continue;
        };
        let mut allowed: Vec<&str> = CASE_KEYS.to_vec();
        allowed.extend(SCENARIO_KEYS);
        top.check_keys(&case_fields, &allowed, "a case");
        let header = top.case_header(&case_fields, &mut names);
        let framing = match case_fields.get("framing") {
            Some(n) => top.bool(n, "framing").unwrap_or(false),
            None => false,
        };
        let requires = match case_fields.get("requires") {
            Some(n) => top.requires(n),
            None => Some(default_requires.clone()),
        };
        let tier = match case_fields.get("tier") {
            Some(n) => top.tier(n),
            None => Some(default_tier),
        };
        // Compile even when the header is wrong, so that every error is reported.
        let required = requires
            .iter()
            .flatten()
            .map(|r| r.setting())
            .collect::<Vec<_>>();
        let merged = merge(&defaults, &case_fields, item.span);
        let settings_cx = CaseSettings {
            values: settings,
            required,
        };
        let compiled =
            compile::compile(Cx::for_case(name_for_errors, settings_cx), &merged, "case");
        let (Some((name, spec, case_description)), Some(requires), Some(tier)) =
            (header, requires, tier)
        else {
            if let Err(mut e) = compiled {
                errors.append(&mut e);
            }
            continue;
        };
        match compiled {
            Ok(mut plan) => {
                let raw = plan
                    .all_steps()
                    .iter()
                    .any(|s| matches!(s.kind, super::plan::StepKind::Raw(_)));
                if raw && !framing {
                    top.error(
                        item.span,
                        format!("case '{name}' sends raw frames, which are the built-in framing: add `framing: true`"),
                    );
                    continue;
                }
                plan.name = name.clone();
                plan.description = case_description.clone();
                cases.push(Case {
                    name,
                    spec,
                    description: case_description,
                    requires,
                    tier,
                    line: match item.span {
                        Span::At { line, .. } => line,
                        _ => 0,
                    },
                    framing,
                    plan,
                });
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    errors.append(&mut top.into_errors());
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.location.map_or((u32::MAX, u32::MAX), |l| l));
        return Err(errors);
    }
    Ok(Suite {
        name,
        description,
        cases,
    })
}

/// The case's scenario: defaults (without `requires`) overridden by its own keys (without
/// the case-only keys).
fn merge(defaults: &[(Key, Node)], case: &Fields<'_>, span: Span) -> Node {
    let mut entries: Vec<(Key, Node)> = defaults
        .iter()
        .filter(|(k, _)| !matches!(k.name.as_str(), "requires" | "tier") && !case.has(&k.name))
        .cloned()
        .collect();
    entries.extend(
        case.entries
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.name.as_str(),
                    "name" | "spec" | "description" | "requires" | "tier" | "framing"
                )
            })
            .cloned(),
    );
    Node {
        span,
        value: Value::Map(entries),
    }
}

/// `P-6`, `P-6.2`.
fn is_spec(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("P-") else {
        return false;
    };
    let mut parts = rest.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && minor.is_none_or(digits) && parts.next().is_none()
}

impl Cx<'_> {
    /// `tier: strict` or `tier: non-strict`.
    fn tier(&mut self, node: &Node) -> Option<Tier> {
        let text = self.string(node, "tier")?;
        match text.as_str() {
            "strict" => Some(Tier::Strict),
            "non-strict" => Some(Tier::NonStrict),
            other => {
                let hint = did_you_mean(other, ["strict", "non-strict"]);
                self.error(
                    node.span,
                    format!("unknown tier '{other}'{hint} (tiers: strict, non-strict)"),
                );
                None
            }
        }
    }

    /// `name`, `spec` and `description` of a case, all required.
    fn case_header(
        &mut self,
        f: &Fields<'_>,
        names: &mut HashSet<String>,
    ) -> Option<(String, String, String)> {
        let need = |cx: &mut Self, key: &str, hint: &str| match f.get(key) {
            Some(n) => cx.string(n, key).map(|s| (s, n.span)),
            None => {
                cx.error(f.span, format!("a case needs '{key}': {hint}"));
                None
            }
        };
        let name = need(self, "name", "a short unique name such as invite-online");
        let spec = need(self, "spec", "the rule it checks, such as P-6.1");
        let description = need(self, "description", "one line saying what it checks");
        let mut ok = true;
        if let Some((name, name_span)) = &name {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                self.error(
                    *name_span,
                    format!("case name '{name}': use letters, digits, '-', '_' or '.'"),
                );
                ok = false;
            } else if !names.insert(name.clone()) {
                self.error(
                    *name_span,
                    format!("case name '{name}' is already used in this suite"),
                );
                ok = false;
            }
        }
        let (name, _) = name?;
        let (spec, spec_span) = spec?;
        let (description, description_span) = description?;
        if !is_spec(&spec) {
            self.error(
                spec_span,
                format!("spec '{spec}' is not a rule id such as P-6 or P-6.2"),
            );
            ok = false;
        }
        if description.trim().is_empty() || description.trim().contains('\n') {
            self.error(description_span, "a case description is one non-empty line");
            ok = false;
        }
        ok.then(|| (name, spec, description.trim().to_string()))
    }

    /// `requires: [invite_ttl, {max_members: 3}]`.
    fn requires(&mut self, node: &Node) -> Option<Vec<Requirement>> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.requirement(item) {
                Some(r) => out.push(r),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn requirement(&mut self, node: &Node) -> Option<Requirement> {
        let names: Vec<&str> = Setting::ALL.iter().map(|s| s.name()).collect();
        let setting = |cx: &mut Self, name: &str, span: Span| {
            let found = Setting::from_name(name);
            if found.is_none() {
                let hint = did_you_mean(name, names.iter().copied());
                cx.error(
                    span,
                    format!(
                        "unknown setting '{name}'{hint} (settings: {})",
                        names.join(", ")
                    ),
                );
            }
            found
        };
        match &node.value {
            Value::Str(name) => {
                let s = setting(self, name, node.span)?;
                Some(Requirement::Known(s))
            }
            Value::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                let s = setting(self, &key.name, key.span)?;
                if s.kind() == SettingKind::Duration {
                    self.error(
                        key.span,
                        format!("'{s}' is a duration: require it by name (requires: [{s}]) and use it in durations"),
                    );
                    return None;
                }
                let v = self.uint(value, &key.name)?;
                Some(Requirement::Equals(s, v))
            }
            _ => {
                self.error(
                    node.span,
                    "a requirement is a setting name (invite_ttl) or {setting: value} ({max_members: 3})",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SUITE: &str = r#"
suite: demo
description: Two cases.
defaults:
  timeout: 1s
  roles: { a: {}, b: {} }
cases:
  - name: one
    spec: P-5.5
    description: Query an unknown channel.
    steps:
      - { as: a, query: { channelName: "x-${session}" }, expect: ROOM_NOT_EXISTS }
  - name: two
    spec: P-6.6
    description: Waits the invite TTL.
    requires: [invite_ttl, {max_members: 3}]
    roles: { a: {} }
    steps:
      - pause: invite_ttl + 100ms
"#;

    #[test]
    fn cases_share_defaults_and_resolve_settings() {
        let mut settings = SettingValues::default();
        settings.set(Setting::InviteTtl, Duration::from_millis(400));
        let suite = check_suite_str("demo.yaml", SUITE, &settings).unwrap();
        assert_eq!(suite.name, "demo");
        assert_eq!(suite.cases.len(), 2);
        let one = &suite.cases[0];
        assert_eq!((one.name.as_str(), one.spec.as_str()), ("one", "P-5.5"));
        assert_eq!(one.plan.name, "one");
        assert_eq!(one.plan.timeout, Duration::from_secs(1));
        assert_eq!(one.plan.roles.len(), 2);
        let two = &suite.cases[1];
        assert_eq!(
            two.requires,
            vec![
                Requirement::Known(Setting::InviteTtl),
                Requirement::Equals(Setting::MaxMembers, 3)
            ]
        );
        assert_eq!(two.plan.roles.len(), 1);
        assert_eq!(
            two.plan.steps[0].kind,
            crate::scenario::StepKind::Pause(crate::scenario::Pause::Fixed(Duration::from_millis(
                500
            )))
        );
    }

    #[test]
    fn errors_are_located_and_collected() {
        let bad = r#"
cases:
  - name: one
    spec: Q-6
    description: x
    roles: { a: {} }
    steps: [ { pause: invite_ttl } ]
  - name: one
    spec: P-1
    description: y
    requires: [max_members, bogus]
    tier: lax
    roles: { a: {} }
    steps: [ { as: a, query: {channelId: c}, expect: NOPE } ]
"#;
        let errors = check_suite_str("bad.yaml", bad, &SettingValues::default()).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        assert!(
            all.contains("bad.yaml:4:11: spec 'Q-6' is not a rule id"),
            "{all}"
        );
        assert!(
            all.contains("'invite_ttl' is used but not required"),
            "{all}"
        );
        assert!(all.contains("case name 'one' is already used"), "{all}");
        assert!(
            all.contains("unknown tier 'lax'") && all.contains("(tiers: strict, non-strict)"),
            "{all}"
        );
        assert!(all.contains("unknown setting 'bogus'"), "{all}");
    }

    #[test]
    fn spec_ids() {
        assert!(is_spec("P-6"));
        assert!(is_spec("P-6.12"));
        assert!(!is_spec("P-6."));
        assert!(!is_spec("P6.1"));
        assert!(!is_spec("P-6.1.2"));
    }
}
