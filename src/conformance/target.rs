//! What the suite knows of the target's settings, which cases it can therefore run, and
//! how the embedded reference server is configured for each case.
//!
//! Against a remote target the settings come from flags and default to the protocol's
//! defaults, except the TTLs, which are unknown unless given: a case that needs a
//! setting the target does not have is skipped with the reason. The embedded server is
//! started once per distinct configuration the selected cases need, so every case runs.

use std::time::Duration;

use serde::Serialize;

use crate::scenario::{Requirement, Setting, SettingValues};
use crate::server::ServerConfig;

/// Invite TTL of the embedded server for cases that wait for expiry. The cases that
/// check an invitation or channel is still alive part-way through its TTL (after one
/// TTL from the start, before one TTL from the renewal) have 45 % of it as slack for the
/// harness's own lateness between two steps: a loaded CI machine (load average 10-11
/// on 2 cores) used up 0.4 s of a 1 s TTL and 1 s of a 2 s one, and the verdict
/// flipped. Being late never flips an expiry check (later is more expired), so only
/// these cases need the length; 4 s leaves them 1.8 s.
pub const EMBEDDED_INVITE_TTL: Duration = Duration::from_millis(4000);
/// Channel TTL of the embedded server for cases that wait for expiry (longer than the
/// invite TTL plus the expiry cases' 400 ms margin, so invitations expire first); the
/// alive-part-way channel cases get 2.7 s of slack.
pub const EMBEDDED_CHANNEL_TTL: Duration = Duration::from_millis(6000);
/// Default time allowed for one answer (`response_budget`, `--response-budget`).
pub const DEFAULT_RESPONSE_BUDGET: Duration = Duration::from_millis(30);

/// The settings of the target, as far as they are known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetSettings {
    #[serde(serialize_with = "opt_ms")]
    pub invite_ttl: Option<Duration>,
    #[serde(serialize_with = "opt_ms")]
    pub channel_ttl: Option<Duration>,
    #[serde(serialize_with = "super::report::millis")]
    pub response_budget: Duration,
    pub max_members: u64,
    pub max_offline: u64,
    pub max_frame: u64,
    /// Requests per second per connection; `None`: no limit.
    pub rate_limit: Option<u64>,
}

fn opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        None => s.serialize_none(),
    }
}

impl Default for TargetSettings {
    /// The protocol's defaults, with the TTLs unknown.
    fn default() -> Self {
        let server = ServerConfig::default();
        TargetSettings {
            invite_ttl: None,
            channel_ttl: None,
            response_budget: DEFAULT_RESPONSE_BUDGET,
            max_members: server.max_members as u64,
            max_offline: server.max_offline as u64,
            max_frame: server.max_frame as u64,
            rate_limit: None,
        }
    }
}

impl TargetSettings {
    /// The values case durations may use.
    pub fn values(&self) -> SettingValues {
        let mut v = SettingValues::default();
        if let Some(t) = self.invite_ttl {
            v.set(Setting::InviteTtl, t);
        }
        if let Some(t) = self.channel_ttl {
            v.set(Setting::ChannelTtl, t);
        }
        v.set(Setting::ResponseBudget, self.response_budget);
        v.set_count(Setting::MaxMembers, self.max_members);
        v.set_count(Setting::MaxOffline, self.max_offline);
        v.set_count(Setting::MaxFrame, self.max_frame);
        if let Some(rate) = self.rate_limit {
            v.set_count(Setting::RateLimit, rate);
        }
        v
    }

    /// For the embedded server: short TTLs unless others were given.
    pub fn for_embedded(mut self) -> TargetSettings {
        self.invite_ttl.get_or_insert(EMBEDDED_INVITE_TTL);
        self.channel_ttl.get_or_insert(EMBEDDED_CHANNEL_TTL);
        self
    }

    /// Why a remote target cannot run a case with these requirements, if it cannot.
    pub fn unmet(&self, requires: &[Requirement]) -> Option<String> {
        let reasons: Vec<String> = requires.iter().filter_map(|r| self.unmet_one(*r)).collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    fn unmet_one(&self, r: Requirement) -> Option<String> {
        let count = |have: u64, want: u64, what: &str, flag: &str| {
            (have != want).then(|| {
                format!("needs a target with {what} {want} (start it so and pass {flag} {want}); assumed {have}")
            })
        };
        match r {
            Requirement::Known(Setting::InviteTtl) => self.invite_ttl.is_none().then(|| {
                "needs the target's invite TTL: start it with a short one (e.g. 2s) and pass --invite-ttl".to_string()
            }),
            Requirement::Known(Setting::ChannelTtl) => self.channel_ttl.is_none().then(|| {
                "needs the target's channel TTL: start it with a short one (e.g. 3s) and pass --channel-ttl".to_string()
            }),
            Requirement::Known(Setting::RateLimit) => self.rate_limit.is_none().then(|| {
                "needs a target with a rate limit (start it so and pass --rate-limit N/s)".to_string()
            }),
            Requirement::Known(_) => None,
            Requirement::Equals(Setting::MaxMembers, v) => {
                count(self.max_members, v, "a member limit of", "--max-members")
            }
            Requirement::Equals(Setting::MaxOffline, v) => {
                count(self.max_offline, v, "an offline store cap of", "--max-offline")
            }
            Requirement::Equals(Setting::MaxFrame, v) => {
                count(self.max_frame, v, "a message size limit of", "--max-frame")
            }
            Requirement::Equals(Setting::RateLimit, v) => match self.rate_limit {
                Some(have) if have == v => None,
                have => Some(format!(
                    "needs a target with a rate limit of {v}/s (start it so and pass --rate-limit {v}/s); assumed {}",
                    have.map_or_else(|| "none".to_string(), |h| format!("{h}/s"))
                )),
            },
            Requirement::Equals(_, _) => None,
        }
    }
}

/// The embedded server's configuration for a case: `base` with whatever the case needs.
pub fn embedded_config(
    base: &ServerConfig,
    settings: &TargetSettings,
    requires: &[Requirement],
) -> ServerConfig {
    let mut config = base.clone();
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    for r in requires {
        match *r {
            Requirement::Known(Setting::InviteTtl) => {
                config.invite_ttl = settings.invite_ttl.unwrap_or(EMBEDDED_INVITE_TTL);
            }
            Requirement::Known(Setting::ChannelTtl) => {
                config.channel_ttl = settings.channel_ttl.unwrap_or(EMBEDDED_CHANNEL_TTL);
            }
            Requirement::Known(Setting::MaxMembers) => {
                config.max_members = size(settings.max_members);
            }
            Requirement::Known(Setting::MaxOffline) => {
                config.max_offline = size(settings.max_offline);
            }
            Requirement::Equals(Setting::MaxMembers, v) => config.max_members = size(v),
            Requirement::Equals(Setting::MaxOffline, v) => config.max_offline = size(v),
            Requirement::Equals(Setting::MaxFrame, v) => config.max_frame = size(v),
            Requirement::Equals(Setting::RateLimit, v) => {
                config.rate_limit = Some(u32::try_from(v).unwrap_or(u32::MAX));
            }
            Requirement::Known(_) | Requirement::Equals(_, _) => {}
        }
    }
    config
}

/// What distinguishes two embedded configurations (the rest is shared by the run).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConfigKey {
    invite_ttl: Duration,
    channel_ttl: Duration,
    max_members: usize,
    max_offline: usize,
    max_frame: usize,
    rate_limit: Option<u32>,
}

impl ConfigKey {
    pub(crate) fn of(c: &ServerConfig) -> ConfigKey {
        ConfigKey {
            invite_ttl: c.invite_ttl,
            channel_ttl: c.channel_ttl,
            max_members: c.max_members,
            max_offline: c.max_offline,
            max_frame: c.max_frame,
            rate_limit: c.rate_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_targets_skip_what_they_cannot_run() {
        let t = TargetSettings::default();
        assert!(t.unmet(&[]).is_none());
        assert!(
            t.unmet(&[Requirement::Known(Setting::InviteTtl)])
                .unwrap()
                .contains("--invite-ttl")
        );
        assert!(
            t.unmet(&[Requirement::Equals(Setting::MaxFrame, 65536)])
                .is_none()
        );
        let why = t
            .unmet(&[Requirement::Equals(Setting::MaxMembers, 3)])
            .unwrap();
        assert!(
            why.contains("--max-members 3") && why.contains("assumed 100"),
            "{why}"
        );
        assert!(
            t.unmet(&[Requirement::Equals(Setting::RateLimit, 10)])
                .unwrap()
                .contains("assumed none")
        );
        let embedded = t.for_embedded();
        assert_eq!(embedded.invite_ttl, Some(EMBEDDED_INVITE_TTL));
        assert!(
            embedded
                .unmet(&[Requirement::Known(Setting::ChannelTtl)])
                .is_none()
        );
    }

    #[test]
    fn embedded_configs_follow_requirements() {
        let base = ServerConfig::default();
        let s = TargetSettings::default().for_embedded();
        let c = embedded_config(
            &base,
            &s,
            &[
                Requirement::Known(Setting::InviteTtl),
                Requirement::Equals(Setting::MaxMembers, 3),
                Requirement::Equals(Setting::RateLimit, 10),
            ],
        );
        assert_eq!(c.invite_ttl, EMBEDDED_INVITE_TTL);
        assert_eq!(c.channel_ttl, base.channel_ttl);
        assert_eq!(c.max_members, 3);
        assert_eq!(c.rate_limit, Some(10));
        assert_ne!(ConfigKey::of(&c), ConfigKey::of(&base));
        assert_eq!(ConfigKey::of(&base), ConfigKey::of(&base.clone()));
    }
}
