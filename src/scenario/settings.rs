//! Server settings a conformance case may depend on (`requires:`) and refer to in its
//! durations (`pause: invite_ttl + 300ms`).
//!
//! The settings are the configurable numbers of the protocol (docs/protocol.md, "Server
//! settings") plus `response_budget`, the time the suite allows for one answer. A case
//! says which ones it needs; whoever runs the suite knows the target's values and skips
//! the cases whose needs it cannot meet. Durations are resolved when the case is
//! compiled, so the runner sees plain numbers.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::timing::parse_duration;

/// A setting of the target server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Setting {
    /// Lifetime of a pending invitation (§P-6.1).
    InviteTtl,
    /// Channel lifetime after creation, join or delay (§P-5.7).
    ChannelTtl,
    /// How long the suite waits for an answer before calling the server slow.
    ResponseBudget,
    /// Members per channel (§P-5.2).
    MaxMembers,
    /// Stored offline events per account (§P-7.3).
    MaxOffline,
    /// Largest accepted message in bytes (§P-1.3).
    MaxFrame,
    /// Requests per second per connection; 0 means off.
    RateLimit,
}

/// Whether a setting is a duration (usable in durations) or a count (only compared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingKind {
    Duration,
    Count,
}

impl Setting {
    pub const ALL: [Setting; 7] = [
        Setting::InviteTtl,
        Setting::ChannelTtl,
        Setting::ResponseBudget,
        Setting::MaxMembers,
        Setting::MaxOffline,
        Setting::MaxFrame,
        Setting::RateLimit,
    ];

    /// The name in `requires:` and in duration expressions.
    pub const fn name(self) -> &'static str {
        match self {
            Setting::InviteTtl => "invite_ttl",
            Setting::ChannelTtl => "channel_ttl",
            Setting::ResponseBudget => "response_budget",
            Setting::MaxMembers => "max_members",
            Setting::MaxOffline => "max_offline",
            Setting::MaxFrame => "max_frame",
            Setting::RateLimit => "rate_limit",
        }
    }

    pub const fn kind(self) -> SettingKind {
        match self {
            Setting::InviteTtl | Setting::ChannelTtl | Setting::ResponseBudget => {
                SettingKind::Duration
            }
            _ => SettingKind::Count,
        }
    }

    pub fn from_name(name: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a case needs of the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// `requires: [invite_ttl]`: the value of the setting must be known. Counts are
    /// always known (the protocol's default unless a flag says otherwise).
    Known(Setting),
    /// `requires: [{max_members: 3}]`: the target must be configured with this value.
    Equals(Setting, u64),
}

impl Requirement {
    pub fn setting(self) -> Setting {
        match self {
            Requirement::Known(s) | Requirement::Equals(s, _) => s,
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Known(s) => write!(f, "{s}"),
            Requirement::Equals(s, v) => write!(f, "{s} = {v}"),
        }
    }
}

/// The known values of settings, used when compiling case durations and counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingValues {
    durations: BTreeMap<Setting, Duration>,
    counts: BTreeMap<Setting, u64>,
}

impl SettingValues {
    pub fn set(&mut self, setting: Setting, value: Duration) {
        self.durations.insert(setting, value);
    }

    pub fn get(&self, setting: Setting) -> Option<Duration> {
        self.durations.get(&setting).copied()
    }

    pub fn set_count(&mut self, setting: Setting, value: u64) {
        self.counts.insert(setting, value);
    }

    pub fn count(&self, setting: Setting) -> Option<u64> {
        self.counts.get(&setting).copied()
    }
}

/// Value used for a required count whose value is unknown (the case will not run).
pub(crate) const COUNT_PLACEHOLDER: u64 = 1;

/// Evaluates `max_members`, `max_offline + 1`, `max_members - 1` or a plain integer.
/// `lookup` resolves a count setting (or says why it cannot be used here).
pub(crate) fn eval_count(
    text: &str,
    lookup: &mut dyn FnMut(Setting) -> Result<u64, String>,
) -> Result<u64, String> {
    let t = text.trim();
    let mut total: i128 = 0;
    let mut rest = t;
    let mut sign = 1i128;
    loop {
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let term = rest[..end].trim();
        let value = match (term.parse::<u64>(), Setting::from_name(term)) {
            (Ok(n), _) => n,
            (_, Some(s)) if s.kind() == SettingKind::Count => lookup(s)?,
            (_, Some(s)) => return Err(format!("'{s}' is a duration, not a count")),
            _ => {
                return Err(format!(
                    "'{t}': expected an integer or a count setting ({}) around each + or -",
                    count_setting_names()
                ));
            }
        };
        total += sign * i128::from(value);
        if end == rest.len() {
            break;
        }
        sign = if rest[end..].starts_with('-') { -1 } else { 1 };
        rest = &rest[end + 1..];
    }
    u64::try_from(total).map_err(|_| format!("'{t}' comes out negative"))
}

pub(crate) fn count_setting_names() -> String {
    Setting::ALL
        .iter()
        .filter(|s| s.kind() == SettingKind::Count)
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Value used for a required setting whose value is unknown: the case compiles (so its
/// text is checked) but will not run.
pub(crate) const PLACEHOLDER: Duration = Duration::from_secs(1);

/// Evaluates `invite_ttl + 300ms`, `0.5 * channel_ttl`, `2s - 100ms` or a plain
/// duration. `lookup` resolves a setting name (or says why it cannot be used here).
pub(crate) fn eval_duration(
    text: &str,
    lookup: &mut dyn FnMut(Setting) -> Result<Duration, String>,
) -> Result<Duration, String> {
    let t = text.trim();
    let is_expr = t.contains(['+', '-', '*']) || Setting::from_name(t).is_some();
    if !is_expr {
        return parse_duration(t);
    }
    let mut total: f64 = 0.0;
    let mut rest = t;
    let mut sign = 1.0;
    loop {
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let term = rest[..end].trim();
        if term.is_empty() {
            return Err(format!(
                "'{t}': expected a duration, a setting ({}) or number * setting around each + or -",
                duration_setting_names()
            ));
        }
        total += sign * term_seconds(term, lookup)?;
        if end == rest.len() {
            break;
        }
        sign = if rest[end..].starts_with('-') {
            -1.0
        } else {
            1.0
        };
        rest = &rest[end + 1..];
    }
    if !total.is_finite() || total < 0.0 {
        return Err(format!("'{t}' comes out negative"));
    }
    Duration::try_from_secs_f64(total).map_err(|e| format!("'{t}': {e}"))
}

fn term_seconds(
    term: &str,
    lookup: &mut dyn FnMut(Setting) -> Result<Duration, String>,
) -> Result<f64, String> {
    let (factor, operand) = match term.split_once('*') {
        Some((a, b)) => {
            let (a, b) = (a.trim(), b.trim());
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(f), _) => (f, b),
                (_, Ok(f)) => (f, a),
                _ => {
                    return Err(format!(
                        "'{term}': a product is number * setting, e.g. 0.5 * invite_ttl"
                    ));
                }
            }
        }
        None => (1.0, term),
    };
    if !factor.is_finite() || factor < 0.0 {
        return Err(format!(
            "'{term}': the factor must be a non-negative number"
        ));
    }
    let value = match Setting::from_name(operand) {
        Some(s) if s.kind() == SettingKind::Duration => lookup(s)?,
        Some(s) => return Err(format!("'{s}' is a count, not a duration")),
        None => parse_duration(operand)?,
    };
    Ok(factor * value.as_secs_f64())
}

pub(crate) fn duration_setting_names() -> String {
    Setting::ALL
        .iter()
        .filter(|s| s.kind() == SettingKind::Duration)
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str) -> Result<Duration, String> {
        eval_duration(text, &mut |s| match s {
            Setting::InviteTtl => Ok(Duration::from_secs(2)),
            other => Err(format!("{other} unknown")),
        })
    }

    #[test]
    fn expressions_with_settings() {
        assert_eq!(eval("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(eval("invite_ttl"), Ok(Duration::from_secs(2)));
        assert_eq!(eval("invite_ttl + 300ms"), Ok(Duration::from_millis(2300)));
        assert_eq!(eval("0.5 * invite_ttl"), Ok(Duration::from_secs(1)));
        assert_eq!(
            eval("invite_ttl*0.25 - 100ms"),
            Ok(Duration::from_millis(400))
        );
        assert_eq!(eval("1s + 1s - 500ms"), Ok(Duration::from_millis(1500)));
        assert!(eval("100ms - invite_ttl").unwrap_err().contains("negative"));
        assert!(eval("channel_ttl + 1s").unwrap_err().contains("unknown"));
        assert!(eval("max_members + 1s").unwrap_err().contains("count"));
        assert!(eval("invite_ttl +").is_err());
        assert!(eval("2 * 3").is_err());
        assert!(eval("soon").is_err());
    }

    #[test]
    fn count_expressions() {
        let eval = |text: &str| {
            eval_count(text, &mut |s| match s {
                Setting::MaxMembers => Ok(100),
                other => Err(format!("{other} unknown")),
            })
        };
        assert_eq!(eval("3"), Ok(3));
        assert_eq!(eval("max_members"), Ok(100));
        assert_eq!(eval("max_members + 1"), Ok(101));
        assert_eq!(eval("max_members-1"), Ok(99));
        assert!(eval("1 - max_members").unwrap_err().contains("negative"));
        assert!(eval("max_offline").unwrap_err().contains("unknown"));
        assert!(eval("invite_ttl").unwrap_err().contains("duration"));
        assert!(eval("lots").is_err());
    }
}
