//! The `load` section: the closed model (fixed or ramping concurrency), the open model's
//! arrival stages, and the limits that apply to both.

use std::time::Duration;

use super::{Cx, describe};
use crate::scenario::node::{Node, Value};
use crate::scenario::timing::{LevelStage, LoadModel, Rate, ShardShare, Stage};

/// Default accounts logged in per second before the first session.
const DEFAULT_LOGIN_RATE: f64 = 500.0;
/// Default bound on sessions in flight in the open model.
const DEFAULT_MAX_IN_FLIGHT: u64 = 1000;

/// The keys of a `load` section that describe one load model.
const MODEL_KEYS: [&str; 6] = [
    "sessions",
    "duration",
    "concurrency",
    "arrival",
    "stages",
    "max_in_flight",
];
/// The keys of a `load` section that apply to the whole run, however many load models
/// it has.
pub(super) const RUN_WIDE_KEYS: [&str; 5] = [
    "login_rate",
    "max_duration",
    "max_failures",
    "aborts_expected",
    "unresponsive_after",
];

/// Where a `load` section is, which decides the keys it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum LoadScope {
    /// The top level, one load model for every session (a mix's flows share it by
    /// weight): every key.
    Shared,
    /// The top level of a mix whose flows have their own loads (the first of them is
    /// named): only the run-wide keys.
    RunWide { first_flow: String },
    /// A flow's own load: only the model's keys.
    Flow,
}

/// What the `load` section sets besides the model.
pub(super) struct LoadSettings {
    pub model: LoadModel,
    pub login_rate: Rate,
    pub max_duration: Option<Duration>,
    pub aborts_expected: bool,
    pub unresponsive_after: Option<Duration>,
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            model: default_load(),
            login_rate: default_login_rate(),
            max_duration: None,
            aborts_expected: false,
            unresponsive_after: None,
        }
    }
}

fn default_load() -> LoadModel {
    LoadModel::Closed {
        sessions: Some(1),
        duration: None,
        concurrency: 1,
    }
}

fn default_login_rate() -> Rate {
    Rate {
        per_sec: DEFAULT_LOGIN_RATE,
    }
}

impl Cx<'_> {
    /// A `load` section. With [`LoadScope::RunWide`] the model is left at its default
    /// (the caller puts the flows' loads in its place).
    pub(super) fn load(&mut self, node: &Node, scope: &LoadScope) -> Option<LoadSettings> {
        let f = self.map(node, "load")?;
        let misplaced: &[&str] = match scope {
            LoadScope::Shared => &[],
            LoadScope::RunWide { .. } => &MODEL_KEYS,
            LoadScope::Flow => &RUN_WIDE_KEYS,
        };
        let mut ok = true;
        for key in misplaced {
            let Some(k) = f.key(key) else { continue };
            ok = false;
            let message = match scope {
                LoadScope::RunWide { first_flow } => format!(
                    "'{key}' describes a load model, and the flows have their own (flow '{first_flow}' has a 'load'): a load is either shared by every flow (top-level, flows by weight) or each flow's own; next to per-flow loads the top-level load takes only the run-wide keys ({})",
                    RUN_WIDE_KEYS.join(", ")
                ),
                _ => format!(
                    "'{key}' applies to the whole run, not to one flow: put it in the top-level load (next to per-flow loads it takes {})",
                    RUN_WIDE_KEYS.join(", ")
                ),
            };
            self.error(k.span, message);
        }
        if !ok {
            return None;
        }
        let keys: Vec<&str> = MODEL_KEYS.iter().chain(&RUN_WIDE_KEYS).copied().collect();
        self.check_keys(&f, &keys, "load");
        let aborts_expected = match f.get("aborts_expected") {
            Some(n) => {
                let expected = self.bool(n, "aborts_expected")?;
                if expected && f.get("max_duration").is_none() {
                    self.error(
                        n.span,
                        "aborts_expected is about sessions cut off by max_duration, and this load has no max_duration",
                    );
                }
                expected
            }
            None => false,
        };
        let unresponsive_after = match f.get("unresponsive_after") {
            Some(n) => Some(self.nonzero_duration(n, "unresponsive_after")?),
            None => None,
        };
        let login_rate = match f.get("login_rate") {
            Some(n) => {
                let r = self.rate(n, "login_rate")?;
                if r.per_sec <= 0.0 {
                    self.error(n.span, "login_rate must be above 0/s");
                    return None;
                }
                r
            }
            None => default_login_rate(),
        };
        let max_duration = match f.get("max_duration") {
            Some(n) => Some(self.nonzero_duration(n, "max_duration")?),
            None => None,
        };
        let model = if let LoadScope::RunWide { .. } = scope {
            default_load()
        } else if let Some(stages) = f.get("stages") {
            for key in ["duration", "concurrency", "arrival", "max_in_flight"] {
                if let Some(k) = f.key(key) {
                    self.error(
                        k.span,
                        format!("'{key}' does not go with 'stages' (closed model with a ramping concurrency): the stages set the concurrency and how long the load lasts"),
                    );
                }
            }
            let sessions = match f.get("sessions") {
                Some(n) => Some(self.positive(n, "sessions")?),
                None => None,
            };
            let stages = self.level_stages(stages)?;
            LoadModel::Ramping {
                stages,
                sessions,
                share: ShardShare::WHOLE,
            }
        } else if let Some(arrival) = f.get("arrival") {
            for key in ["sessions", "duration", "concurrency"] {
                if let Some(k) = f.key(key) {
                    self.error(
                        k.span,
                        format!("'{key}' belongs to the closed model; with 'arrival' (open model) the stages set the load and 'max_in_flight' bounds it"),
                    );
                }
            }
            let max_in_flight = match f.get("max_in_flight") {
                Some(n) => self.parallel_count(n, "max_in_flight")?,
                None => DEFAULT_MAX_IN_FLIGHT,
            };
            let stages = self.stages(arrival)?;
            let model = LoadModel::Open {
                stages,
                max_in_flight,
            };
            if model.planned_sessions() == Some(0) {
                self.error(arrival.span, "these arrival stages start no session at all");
                return None;
            }
            model
        } else {
            if let Some(k) = f.key("max_in_flight") {
                self.error(
                    k.span,
                    "'max_in_flight' belongs to the open model (with 'arrival'); the closed model uses 'concurrency'",
                );
            }
            let sessions = match f.get("sessions") {
                Some(n) => Some(self.positive(n, "sessions")?),
                None => None,
            };
            let duration = match f.get("duration") {
                Some(n) => Some(self.nonzero_duration(n, "duration")?),
                None => None,
            };
            if sessions.is_none() && duration.is_none() {
                self.error(
                    node.span,
                    "load needs 'sessions' and/or 'duration' (closed model), 'stages' (closed model, ramping) or 'arrival' (open model)",
                );
                return None;
            }
            let concurrency = match f.get("concurrency") {
                Some(n) => self.parallel_count(n, "concurrency")?,
                None => 1,
            };
            LoadModel::Closed {
                sessions,
                duration,
                concurrency,
            }
        };
        Some(LoadSettings {
            model,
            login_rate,
            max_duration,
            aborts_expected,
            unresponsive_after,
        })
    }

    /// The ramping closed model's `stages`: `- {ramp: 10..500, over: 2m}` and
    /// `- {hold: 500, for: 5m}`, concurrencies from 0 to [`super::MAX_PARALLEL`].
    fn level_stages(&mut self, node: &Node) -> Option<Vec<LevelStage>> {
        let Value::Seq(items) = &node.value else {
            self.error(
                node.span,
                format!(
                    "stages must be a list like [{{ramp: 10..100, over: 1m}}, {{hold: 100, for: 5m}}], found {}",
                    node.value.kind()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(node.span, "stages must list at least one stage");
            return None;
        }
        let mut stages = Vec::new();
        let mut ok = true;
        for item in items {
            match self.level_stage(item) {
                Some(s) => stages.push(s),
                None => ok = false,
            }
        }
        if ok && stages.iter().all(|s| s.levels() == (0, 0)) {
            self.error(
                node.span,
                "these stages never run a session: every concurrency is 0",
            );
            return None;
        }
        ok.then_some(stages)
    }

    fn level_stage(&mut self, node: &Node) -> Option<LevelStage> {
        let f = self.map(node, "a concurrency stage")?;
        if let Some(ramp) = f.get("ramp") {
            self.check_keys(&f, &["ramp", "over"], "a ramp stage");
            let text = match &ramp.value {
                Value::Str(s) => s.clone(),
                other => {
                    self.error(
                        ramp.span,
                        format!(
                            "ramp: expected from..to concurrencies, e.g. 10..500, found {}",
                            describe(other)
                        ),
                    );
                    return None;
                }
            };
            let Some((a, b)) = text.split_once("..") else {
                self.error(
                    ramp.span,
                    format!("ramp: expected from..to concurrencies, e.g. 10..500, got '{text}'"),
                );
                return None;
            };
            if text.contains('/') {
                self.error(
                    ramp.span,
                    format!("ramp: '{text}' is a rate; 'stages' ramp the concurrency (e.g. 10..500), arrival rates go in 'arrival' (open model)"),
                );
                return None;
            }
            let from = self.level(a, ramp)?;
            let to = self.level(b, ramp)?;
            let Some(over) = f.get("over") else {
                self.error(
                    node.span,
                    "a ramp stage needs 'over': how long the ramp lasts",
                );
                return None;
            };
            Some(LevelStage::Ramp {
                from,
                to,
                over: self.nonzero_duration(over, "over")?,
            })
        } else if let Some(hold) = f.get("hold") {
            self.check_keys(&f, &["hold", "for"], "a hold stage");
            let count = match &hold.value {
                Value::UInt(n) => self.level(&n.to_string(), hold)?,
                Value::Str(s) if s.contains('/') => {
                    self.error(
                        hold.span,
                        format!("hold: '{s}' is a rate; 'stages' hold a concurrency (e.g. hold: 500), arrival rates go in 'arrival' (open model)"),
                    );
                    return None;
                }
                other => {
                    self.error(
                        hold.span,
                        format!(
                            "hold: expected a concurrency (a non-negative integer), found {}",
                            describe(other)
                        ),
                    );
                    return None;
                }
            };
            let Some(duration) = f.get("for") else {
                self.error(node.span, "a hold stage needs 'for': how long it lasts");
                return None;
            };
            Some(LevelStage::Hold {
                count,
                duration: self.nonzero_duration(duration, "for")?,
            })
        } else {
            self.error(
                node.span,
                "a concurrency stage is {ramp: 10..500, over: 2m} or {hold: 500, for: 5m}",
            );
            None
        }
    }

    /// One end of a concurrency ramp, or a held concurrency: 0 to
    /// [`super::MAX_PARALLEL`].
    fn level(&mut self, text: &str, node: &Node) -> Option<u64> {
        let Ok(n) = text.trim().parse::<u64>() else {
            self.error(
                node.span,
                format!(
                    "'{}' is not a concurrency: expected a non-negative integer, e.g. 10..500",
                    text.trim()
                ),
            );
            return None;
        };
        if n > super::MAX_PARALLEL {
            self.error(
                node.span,
                format!("concurrency {n} is more than one generator can run (at most {}; split the load with --shard)", super::MAX_PARALLEL),
            );
            return None;
        }
        Some(n)
    }

    /// `- {ramp: 10/s..100/s, over: 30s}` and `- {hold: 100/s, for: 60s}`.
    fn stages(&mut self, node: &Node) -> Option<Vec<Stage>> {
        let Value::Seq(items) = &node.value else {
            self.error(
                node.span,
                format!(
                    "arrival must be a list of stages, found {}",
                    node.value.kind()
                ),
            );
            return None;
        };
        if items.is_empty() {
            self.error(node.span, "arrival must list at least one stage");
            return None;
        }
        let mut stages = Vec::new();
        let mut ok = true;
        for item in items {
            match self.stage(item) {
                Some(s) => stages.push(s),
                None => ok = false,
            }
        }
        ok.then_some(stages)
    }

    fn stage(&mut self, node: &Node) -> Option<Stage> {
        let f = self.map(node, "an arrival stage")?;
        if let Some(ramp) = f.get("ramp") {
            self.check_keys(&f, &["ramp", "over"], "a ramp stage");
            let text = self.string(ramp, "ramp")?;
            let Some((a, b)) = text.split_once("..") else {
                self.error(
                    ramp.span,
                    format!("ramp: expected from..to, e.g. 10/s..100/s, got '{text}'"),
                );
                return None;
            };
            let (from, to) = match (Rate::parse(a), Rate::parse(b)) {
                (Ok(from), Ok(to)) => (from, to),
                (Err(e), _) | (_, Err(e)) => {
                    self.error(ramp.span, format!("ramp: {e}"));
                    return None;
                }
            };
            let Some(over) = f.get("over") else {
                self.error(
                    node.span,
                    "a ramp stage needs 'over': how long the ramp lasts",
                );
                return None;
            };
            Some(Stage::Ramp {
                from,
                to,
                over: self.nonzero_duration(over, "over")?,
            })
        } else if let Some(hold) = f.get("hold") {
            self.check_keys(&f, &["hold", "for"], "a hold stage");
            let rate = self.rate(hold, "hold")?;
            let Some(duration) = f.get("for") else {
                self.error(node.span, "a hold stage needs 'for': how long it lasts");
                return None;
            };
            Some(Stage::Hold {
                rate,
                duration: self.nonzero_duration(duration, "for")?,
            })
        } else {
            self.error(
                node.span,
                "a stage is {ramp: 10/s..100/s, over: 30s} or {hold: 100/s, for: 60s}",
            );
            None
        }
    }
}
