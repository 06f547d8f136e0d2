//! The load shorthands of `sigbench run` (`--sessions`, `--concurrency`, `--rate`,
//! `--duration`): applied to a compiled plan's load model, so they need no knowledge of
//! the YAML and say plainly when they do not fit the scenario's model.

use std::time::Duration;

use super::timing::{LoadModel, Rate, Stage, format_duration};

/// Why `--concurrency` and `--duration` do not fit a ramping closed model.
const RAMPING: &str = "this scenario ramps its concurrency (load.stages), so its stages set the concurrency and the duration; change them with --set 'load.stages=[…]', or give a fixed load with --set";

/// Why the load flags do not fit per-flow loads.
const PER_FLOW: &str = "this scenario's flows each have their own load (flows.<name>.load), and the load flags change one shared load; change a flow's load with --set, e.g. --set flows.accept.load.sessions=100";

/// When `--rate` turns a closed scenario into an open one without `--concurrency`, the
/// bound on sessions in flight is the arrivals of this long (or the scenario's
/// concurrency, if larger), at most [`MAX_DEFAULT_IN_FLIGHT`]: enough for sessions of a
/// few seconds, without logging in a thousand idle accounts for a 10/s run.
const DEFAULT_IN_FLIGHT_WINDOW: f64 = 5.0;
/// See [`DEFAULT_IN_FLIGHT_WINDOW`]; the same as `load.max_in_flight`'s default.
const MAX_DEFAULT_IN_FLIGHT: u64 = 1000;

/// Load values given on the command line; `None`: keep the scenario's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoadFlags {
    /// `--sessions N`: closed model, N sessions in total.
    pub sessions: Option<u64>,
    /// `--concurrency N`: closed model's concurrency; with the open model, its
    /// `max_in_flight`.
    pub concurrency: Option<u64>,
    /// `--rate R`: open model at a constant arrival rate.
    pub rate: Option<Rate>,
    /// `--duration D`: how long the load lasts.
    pub duration: Option<Duration>,
}

impl LoadFlags {
    /// True when no flag is set.
    pub fn is_empty(&self) -> bool {
        *self == LoadFlags::default()
    }

    /// The load model with these flags applied, or why they do not fit it.
    ///
    /// - `--rate R` makes the load a constant arrival rate of R for `--duration` (or the
    ///   scenario's own duration), with `--concurrency` as its bound on sessions in flight
    ///   (default: the scenario's bound, or for a closed scenario the larger of its
    ///   concurrency and 5 seconds of arrivals, at most 1000).
    /// - On a closed model, `--sessions` and `--duration` replace the scenario's; giving
    ///   only one of them drops the other limit (`--duration 1m` runs for a minute).
    /// - On an open model, `--concurrency` sets `max_in_flight` and `--duration` sets the
    ///   length of a single `hold` stage.
    /// - On a ramping closed model (`load.stages`), `--sessions` caps the sessions;
    ///   `--concurrency` and `--duration` are errors (the stages set both).
    pub fn apply(&self, load: &LoadModel) -> Result<LoadModel, String> {
        for (flag, value) in [
            ("--sessions", self.sessions),
            ("--concurrency", self.concurrency),
        ] {
            if value == Some(0) {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if self.duration == Some(Duration::ZERO) {
            return Err("--duration must be above 0".into());
        }
        if let Some(rate) = self.rate
            && !matches!(load, LoadModel::PerFlow(_))
        {
            return self.constant_rate(load, rate);
        }
        match load {
            LoadModel::PerFlow(_) if self.is_empty() => Ok(load.clone()),
            LoadModel::PerFlow(_) => Err(format!("{}: {PER_FLOW}", self.first_flag())),
            LoadModel::Ramping {
                stages,
                sessions,
                share,
            } => {
                if let Some(flag) = [
                    ("--concurrency", self.concurrency.is_some()),
                    ("--duration", self.duration.is_some()),
                ]
                .iter()
                .find_map(|(flag, given)| given.then_some(*flag))
                {
                    return Err(format!("{flag}: {RAMPING}"));
                }
                Ok(LoadModel::Ramping {
                    stages: stages.clone(),
                    sessions: self.sessions.or(*sessions),
                    share: *share,
                })
            }
            LoadModel::Closed {
                sessions,
                duration,
                concurrency,
            } => {
                let (sessions, duration) = match (self.sessions, self.duration) {
                    (None, None) => (*sessions, *duration),
                    (s, d) => (s, d),
                };
                Ok(LoadModel::Closed {
                    sessions,
                    duration,
                    concurrency: self.concurrency.unwrap_or(*concurrency),
                })
            }
            LoadModel::Open {
                stages,
                max_in_flight,
            } => {
                if self.sessions.is_some() {
                    return Err("--sessions sets the closed model, but this scenario has an open model (load.arrival); use --rate and --duration, or --set".into());
                }
                let stages = match (self.duration, stages.as_slice()) {
                    (None, _) => stages.clone(),
                    (Some(d), [Stage::Hold { rate, .. }]) => vec![Stage::Hold {
                        rate: *rate,
                        duration: d,
                    }],
                    (Some(_), _) => {
                        return Err("--duration: this scenario's arrival has several stages (or a ramp), so their lengths set the duration; use --set load.arrival... or --rate R --duration D for a constant rate".into());
                    }
                };
                Ok(LoadModel::Open {
                    stages,
                    max_in_flight: self.concurrency.unwrap_or(*max_in_flight),
                })
            }
        }
    }

    /// The first flag given, for messages.
    fn first_flag(&self) -> &'static str {
        [
            ("--sessions", self.sessions.is_some()),
            ("--concurrency", self.concurrency.is_some()),
            ("--rate", self.rate.is_some()),
            ("--duration", self.duration.is_some()),
        ]
        .iter()
        .find_map(|(flag, given)| given.then_some(*flag))
        .unwrap_or("--sessions")
    }

    fn constant_rate(&self, load: &LoadModel, rate: Rate) -> Result<LoadModel, String> {
        if self.sessions.is_some() {
            return Err("--sessions and --rate choose different load models (closed and open); with --rate the sessions are rate × duration".into());
        }
        if rate.per_sec <= 0.0 {
            return Err("--rate must be above 0/s".into());
        }
        let duration = self
            .duration
            .or_else(|| load.planned_duration())
            .ok_or("--rate needs --duration: this scenario's load has no duration")?;
        let max_in_flight = match (self.concurrency, load) {
            (Some(c), _) => c,
            (None, LoadModel::Open { max_in_flight, .. }) => *max_in_flight,
            (
                None,
                LoadModel::Closed { .. } | LoadModel::Ramping { .. } | LoadModel::PerFlow(_),
            ) => {
                let window = (rate.per_sec * DEFAULT_IN_FLIGHT_WINDOW).ceil() as u64;
                window
                    .max(load.max_concurrent())
                    .clamp(1, MAX_DEFAULT_IN_FLIGHT)
            }
        };
        let model = LoadModel::Open {
            stages: vec![Stage::Hold { rate, duration }],
            max_in_flight,
        };
        if model.planned_sessions() == Some(0) {
            return Err(format!(
                "--rate {rate} for {} starts no session",
                format_duration(duration)
            ));
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed() -> LoadModel {
        LoadModel::Closed {
            sessions: Some(100),
            duration: None,
            concurrency: 10,
        }
    }

    fn open(stages: Vec<Stage>) -> LoadModel {
        LoadModel::Open {
            stages,
            max_in_flight: 50,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn closed_model_flags_replace_the_scenario_values() {
        let flags = LoadFlags {
            sessions: Some(7),
            concurrency: Some(3),
            ..LoadFlags::default()
        };
        assert_eq!(
            flags.apply(&closed()),
            Ok(LoadModel::Closed {
                sessions: Some(7),
                duration: None,
                concurrency: 3
            })
        );
        // --duration alone runs for that long: the session count no longer limits.
        let flags = LoadFlags {
            duration: Some(secs(30)),
            ..LoadFlags::default()
        };
        assert_eq!(
            flags.apply(&closed()),
            Ok(LoadModel::Closed {
                sessions: None,
                duration: Some(secs(30)),
                concurrency: 10
            })
        );
        assert_eq!(LoadFlags::default().apply(&closed()), Ok(closed()));
    }

    #[test]
    fn rate_makes_a_constant_open_model() {
        let flags = LoadFlags {
            rate: Some(Rate { per_sec: 20.0 }),
            duration: Some(secs(5)),
            concurrency: Some(8),
            ..LoadFlags::default()
        };
        let model = flags.apply(&closed()).unwrap();
        assert_eq!(model.planned_sessions(), Some(100));
        assert_eq!(model.max_concurrent(), 8);
        let default_bound = LoadFlags {
            rate: Some(Rate { per_sec: 20.0 }),
            duration: Some(secs(5)),
            ..LoadFlags::default()
        };
        assert_eq!(
            default_bound.apply(&closed()).unwrap().max_concurrent(),
            100
        );
        let err = LoadFlags {
            rate: Some(Rate { per_sec: 20.0 }),
            ..LoadFlags::default()
        }
        .apply(&closed())
        .unwrap_err();
        assert!(err.contains("--rate needs --duration"), "{err}");
        let err = LoadFlags {
            rate: Some(Rate { per_sec: 20.0 }),
            sessions: Some(3),
            duration: Some(secs(1)),
            ..LoadFlags::default()
        }
        .apply(&closed())
        .unwrap_err();
        assert!(err.contains("--sessions and --rate"), "{err}");
    }

    #[test]
    fn open_model_takes_concurrency_and_a_single_hold_duration() {
        let hold = open(vec![Stage::Hold {
            rate: Rate { per_sec: 10.0 },
            duration: secs(60),
        }]);
        let flags = LoadFlags {
            duration: Some(secs(2)),
            concurrency: Some(4),
            ..LoadFlags::default()
        };
        let model = flags.apply(&hold).unwrap();
        assert_eq!(model.planned_sessions(), Some(20));
        assert_eq!(model.max_concurrent(), 4);
        let ramp = open(vec![Stage::Ramp {
            from: Rate { per_sec: 1.0 },
            to: Rate { per_sec: 10.0 },
            over: secs(10),
        }]);
        assert!(flags.apply(&ramp).unwrap_err().contains("several stages"));
        let sessions = LoadFlags {
            sessions: Some(5),
            ..LoadFlags::default()
        };
        assert!(sessions.apply(&hold).unwrap_err().contains("open model"));
        let zero = LoadFlags {
            concurrency: Some(0),
            ..LoadFlags::default()
        };
        assert!(zero.apply(&hold).unwrap_err().contains("at least 1"));
    }

    #[test]
    fn ramping_model_takes_a_session_cap_and_refuses_concurrency_and_duration() {
        use crate::scenario::timing::{LevelStage, ShardShare};
        let ramping = LoadModel::Ramping {
            stages: vec![LevelStage::Ramp {
                from: 1,
                to: 20,
                over: secs(10),
            }],
            sessions: None,
            share: ShardShare::WHOLE,
        };
        let capped = LoadFlags {
            sessions: Some(40),
            ..LoadFlags::default()
        }
        .apply(&ramping)
        .unwrap();
        assert_eq!(capped.planned_sessions(), Some(40));
        assert_eq!(capped.planned_duration(), Some(secs(10)));
        for flags in [
            LoadFlags {
                concurrency: Some(5),
                ..LoadFlags::default()
            },
            LoadFlags {
                duration: Some(secs(5)),
                ..LoadFlags::default()
            },
        ] {
            let err = flags.apply(&ramping).unwrap_err();
            assert!(err.contains("load.stages"), "{err}");
        }
        // --rate replaces the ramp with a constant rate over its length.
        let open = LoadFlags {
            rate: Some(Rate { per_sec: 2.0 }),
            ..LoadFlags::default()
        }
        .apply(&ramping)
        .unwrap();
        assert_eq!(open.planned_sessions(), Some(20));
        assert_eq!(open.max_concurrent(), 20);
    }

    #[test]
    fn per_flow_loads_take_no_load_flag() {
        let per_flow = LoadModel::PerFlow(vec![closed(), closed()]);
        for flags in [
            LoadFlags {
                sessions: Some(5),
                ..LoadFlags::default()
            },
            LoadFlags {
                rate: Some(Rate { per_sec: 2.0 }),
                duration: Some(secs(3)),
                ..LoadFlags::default()
            },
        ] {
            let err = flags.apply(&per_flow).unwrap_err();
            assert!(
                err.contains("own load") && err.contains("--set flows."),
                "{err}"
            );
        }
        let err = LoadFlags {
            duration: Some(secs(3)),
            ..LoadFlags::default()
        }
        .apply(&per_flow)
        .unwrap_err();
        assert!(err.starts_with("--duration:"), "{err}");
        assert_eq!(LoadFlags::default().apply(&per_flow), Ok(per_flow));
    }
}
