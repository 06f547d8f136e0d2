//! Time in scenarios: durations (`500ms`, `2s`, `1m30s`), rates (`100/s`), pauses
//! (fixed, uniform range, exponential) and the load models with the open model's arrival
//! schedule and the ramping closed model's concurrency schedule.

use rand::RngExt as _;
use std::fmt;
use std::time::Duration;

/// The longest duration a scenario or flag may give: longer waits than this cannot be
/// executed (deadlines are instants, and instants end), and no run lasts a year.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// The highest rate a scenario may give: one generator cannot start more sessions or
/// logins per second than this.
pub const MAX_RATE_PER_SEC: f64 = 1_000_000.0;

/// Parses `250ms`, `2s`, `1.5s`, `1m30s`, `2h`, `100us`. A bare number is rejected:
/// the unit is never guessed. Durations above [`MAX_DURATION`] are rejected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("expected a duration like 500ms, 2s or 1m30s (units us, ms, s, m, h), got '{text}'")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic() && c != 'µ')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = rest[unit_len..].trim_start();
    }
    let d = Duration::try_from_secs_f64(total).map_err(|_| bad())?;
    check_duration(d)
}

/// `d` if a run can execute it, else why not.
pub fn check_duration(d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "{} is longer than the longest wait sigbench can execute (366 days)",
            format_duration(d)
        ));
    }
    Ok(d)
}

/// Formats a duration the way scenarios write it (`50ms`, `2s`, `1.5s`).
pub fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros % 1_000_000 == 0 {
        format!("{}s", micros / 1_000_000)
    } else if micros % 1000 == 0 {
        format!("{}ms", micros / 1000)
    } else if micros < 1000 {
        format!("{micros}us")
    } else {
        format!("{:.3}ms", d.as_secs_f64() * 1000.0)
    }
}

/// Events per second.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Rate {
    pub per_sec: f64,
}

impl Rate {
    /// Parses `100/s`, `0.5/s`, `6000/m` (or `/min`), `3600/h`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad = || format!("expected a rate like 100/s or 600/m, got '{text}'");
        let (num, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let n: f64 = num.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        if !n.is_finite() || n < 0.0 {
            return Err(bad());
        }
        let per_sec = n / per;
        if per_sec > MAX_RATE_PER_SEC {
            return Err(format!(
                "{text} is more than one generator can start (at most 1000000/s; split the load with --shard)"
            ));
        }
        Ok(Rate { per_sec })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.per_sec)
    }
}

/// A `pause` step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pause {
    /// `pause: 100ms`
    Fixed(Duration),
    /// `pause: 100ms..500ms`, uniform.
    Uniform { min: Duration, max: Duration },
    /// `pause: {exp: 200ms}`: exponential with this mean (think time), capped at
    /// [`Pause::EXP_CAP`] times the mean so one sample cannot stall a session.
    Exponential { mean: Duration },
}

impl Pause {
    /// The cap of exponential pauses, in means.
    pub const EXP_CAP: f64 = 20.0;

    /// Draws one pause.
    pub fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            Pause::Fixed(d) => d,
            Pause::Uniform { min, max } => {
                let lo = min.as_nanos() as u64;
                let hi = max.as_nanos() as u64;
                Duration::from_nanos(rng.random_range(lo..=hi.max(lo)))
            }
            Pause::Exponential { mean } => {
                let u: f64 = rng.random();
                let draw = (-(1.0 - u).ln()).min(Self::EXP_CAP);
                Duration::try_from_secs_f64(mean.as_secs_f64() * draw).unwrap_or(Duration::MAX)
            }
        }
    }
}

/// A stage of the open model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stage {
    /// `{ramp: 10/s..100/s, over: 30s}`: the arrival rate changes linearly.
    Ramp {
        from: Rate,
        to: Rate,
        over: Duration,
    },
    /// `{hold: 100/s, for: 60s}`: constant arrival rate.
    Hold { rate: Rate, duration: Duration },
}

impl Stage {
    pub fn duration(&self) -> Duration {
        match *self {
            Stage::Ramp { over, .. } => over,
            Stage::Hold { duration, .. } => duration,
        }
    }

    /// Arrival rates at the start and end of the stage, per second.
    fn rates(&self) -> (f64, f64) {
        match *self {
            Stage::Ramp { from, to, .. } => (from.per_sec, to.per_sec),
            Stage::Hold { rate, .. } => (rate.per_sec, rate.per_sec),
        }
    }

    /// Sessions this stage starts (fractional).
    pub fn sessions(&self) -> f64 {
        let (a, b) = self.rates();
        (a + b) / 2.0 * self.duration().as_secs_f64()
    }

    /// Time into the stage at which `m` sessions have arrived (`m` below
    /// [`Stage::sessions`]).
    fn time_of(&self, m: f64) -> f64 {
        let (a, b) = self.rates();
        let t_total = self.duration().as_secs_f64();
        let k = (b - a) / t_total;
        // Solves a·t + k·t²/2 = m, in the form that stays stable as k → 0.
        let disc = (a * a + 2.0 * k * m).max(0.0);
        let denom = a + disc.sqrt();
        if denom <= 0.0 {
            0.0
        } else {
            (2.0 * m / denom).min(t_total)
        }
    }
}

/// A stage of the ramping closed model (`load.stages`): how many session slots run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LevelStage {
    /// `{ramp: 10..500, over: 2m}`: the concurrency changes linearly.
    Ramp { from: u64, to: u64, over: Duration },
    /// `{hold: 500, for: 5m}`: constant concurrency.
    Hold { count: u64, duration: Duration },
}

impl LevelStage {
    pub fn duration(&self) -> Duration {
        match *self {
            LevelStage::Ramp { over, .. } => over,
            LevelStage::Hold { duration, .. } => duration,
        }
    }

    /// Concurrency at the start and the end of the stage.
    pub fn levels(&self) -> (u64, u64) {
        match *self {
            LevelStage::Ramp { from, to, .. } => (from, to),
            LevelStage::Hold { count, .. } => (count, count),
        }
    }
}

/// One generator's share of a load run by `--shard I/N`: shard `index` (1-based) of
/// `count`. The ramping closed model applies it at every instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardShare {
    pub index: u32,
    pub count: u32,
}

impl ShardShare {
    /// The whole load (no sharding).
    pub const WHOLE: ShardShare = ShardShare { index: 1, count: 1 };

    /// This shard's part of `total`: N equal shares, the first ones taking the
    /// remainder, so the shares add up to `total` exactly.
    pub fn of(self, total: u64) -> u64 {
        let (index, count) = (u64::from(self.index), u64::from(self.count.max(1)));
        total / count + u64::from(index <= total % count)
    }

    /// The smallest total whose share gives this shard more than `slot` (0-based) slots:
    /// slot `j` of shard `i` of `N` runs while the total concurrency is at least
    /// `j·N + i`.
    fn level_for(self, slot: u64) -> u64 {
        slot.saturating_mul(u64::from(self.count.max(1)))
            .saturating_add(u64::from(self.index.max(1)))
    }
}

/// How sessions are started.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadModel {
    /// A fixed number of session slots; each starts a new session when its previous one
    /// ends. Stops after `sessions` sessions or `duration`, whichever comes first.
    Closed {
        sessions: Option<u64>,
        duration: Option<Duration>,
        concurrency: u64,
    },
    /// Sessions start on a schedule regardless of how earlier ones fare (see
    /// [`LoadModel::arrivals`]); at most `max_in_flight` run at once, later arrivals wait
    /// (and count as late).
    Open {
        stages: Vec<Stage>,
        max_in_flight: u64,
    },
    /// The closed model with a concurrency that follows `stages` (ramp up, hold, ramp
    /// down): session slot `j` starts sessions back to back while the target
    /// concurrency is above `j`, and finishes its session and waits while it is not.
    /// Ends with the last stage, or after `sessions` sessions.
    Ramping {
        stages: Vec<LevelStage>,
        sessions: Option<u64>,
        /// The part of the concurrency this generator runs (`--shard`).
        share: ShardShare,
    },
    /// Every flow of a mix with its own load model (`flows.<name>.load`), all running at
    /// once: `loads[i]` starts the sessions of flow `i`. No element is itself `PerFlow`.
    PerFlow(Vec<LoadModel>),
}

impl LoadModel {
    /// The open model's schedule of intended start times, from the start of the run.
    pub fn arrivals(&self) -> Option<Arrivals<'_>> {
        match self {
            LoadModel::Open { stages, .. } => Some(Arrivals {
                stages,
                index: 0,
                stage_start: 0.0,
                before: 0.0,
                next: 0,
            }),
            LoadModel::Closed { .. } | LoadModel::Ramping { .. } | LoadModel::PerFlow(_) => None,
        }
    }

    /// The load models that run side by side: each flow's with per-flow loads, else
    /// just this one. Part `i` of a per-flow load runs flow `i`.
    pub fn parts(&self) -> &[LoadModel] {
        match self {
            LoadModel::PerFlow(loads) => loads,
            _ => std::slice::from_ref(self),
        }
    }

    /// True when a session slot runs more than one session over the run (so sessions
    /// share accounts), in some part of the load.
    pub fn reuses_slots(&self) -> bool {
        self.parts().iter().any(|part| {
            let slots = part.max_concurrent().max(1);
            part.planned_sessions().is_none_or(|n| n > slots)
        })
    }

    /// How many sessions may run at once (`concurrency`, `max_in_flight`, or the peak
    /// of the ramping model's stages).
    pub fn max_concurrent(&self) -> u64 {
        match self {
            LoadModel::Closed { concurrency, .. } => *concurrency,
            LoadModel::Open { max_in_flight, .. } => *max_in_flight,
            LoadModel::Ramping { stages, share, .. } => {
                let peak = stages
                    .iter()
                    .map(|s| s.levels().0.max(s.levels().1))
                    .max()
                    .unwrap_or(0);
                share.of(peak)
            }
            LoadModel::PerFlow(loads) => loads
                .iter()
                .fold(0u64, |sum, l| sum.saturating_add(l.max_concurrent())),
        }
    }

    /// The ramping model's target concurrency for this generator `elapsed` after the
    /// load began; `None` for the other models and after the last stage.
    pub fn concurrency_at(&self, elapsed: Duration) -> Option<u64> {
        let LoadModel::Ramping { stages, share, .. } = self else {
            return None;
        };
        let mut t = elapsed.as_secs_f64();
        for stage in stages {
            let d = stage.duration().as_secs_f64();
            if t < d {
                let (a, b) = stage.levels();
                let level = a as f64 + (b as f64 - a as f64) * t / d;
                return Some(share.of((level + LEVEL_EPSILON).floor() as u64));
            }
            t -= d;
        }
        None
    }

    /// The ramping model: the earliest time, no earlier than `elapsed`, at which session
    /// slot `slot` (0-based) of this generator may run a session; `None` when it never
    /// may again before the last stage ends (and for the other models).
    pub fn slot_turn(&self, slot: u64, elapsed: Duration) -> Option<Duration> {
        let LoadModel::Ramping { stages, share, .. } = self else {
            return None;
        };
        let need = share.level_for(slot) as f64;
        let now = elapsed.as_secs_f64();
        let mut start = 0.0;
        for stage in stages {
            let d = stage.duration().as_secs_f64();
            let end = start + d;
            if end > now {
                let (a, b) = (stage.levels().0 as f64, stage.levels().1 as f64);
                let from = now.max(start);
                let level = a + (b - a) * (from - start) / d;
                if level + LEVEL_EPSILON >= need {
                    return Some(Duration::from_secs_f64(from));
                }
                if b > a {
                    // The ramp reaches `need` at start + (need - a)/(b - a)·d.
                    let at = start + (need - a) / (b - a) * d;
                    if at < end {
                        return Some(Duration::from_secs_f64(at.max(from)));
                    }
                }
            }
            start = end;
        }
        None
    }

    /// The planned session count, when known up front.
    pub fn planned_sessions(&self) -> Option<u64> {
        match self {
            LoadModel::PerFlow(loads) => loads.iter().try_fold(0u64, |sum, l| {
                l.planned_sessions().map(|n| sum.saturating_add(n))
            }),
            LoadModel::Closed { sessions, .. } | LoadModel::Ramping { sessions, .. } => *sessions,
            // Computed, not counted: a schedule may hold millions of arrivals.
            LoadModel::Open { stages, .. } => {
                let total: f64 = stages.iter().map(Stage::sessions).sum();
                Some((total - 1e-9).max(0.0).ceil() as u64)
            }
        }
    }

    /// The planned length of the run, when known up front.
    pub fn planned_duration(&self) -> Option<Duration> {
        match self {
            // The longest part: the load ends when every flow's has.
            LoadModel::PerFlow(loads) => loads.iter().try_fold(Duration::ZERO, |longest, l| {
                l.planned_duration().map(|d| longest.max(d))
            }),
            LoadModel::Closed { duration, .. } => *duration,
            LoadModel::Ramping { stages, .. } => Some(
                stages
                    .iter()
                    .fold(Duration::ZERO, |acc, s| acc.saturating_add(s.duration())),
            ),
            LoadModel::Open { stages, .. } => Some(
                stages
                    .iter()
                    .fold(Duration::ZERO, |acc, s| acc.saturating_add(s.duration())),
            ),
        }
    }
}

/// A ramp's level may come out a hair under a whole number (`0.1 · 30 = 2.9999…`):
/// levels this close to the next integer count as it.
const LEVEL_EPSILON: f64 = 1e-6;

/// Where a run's schedule is at some time: for live views.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageNow {
    /// 0-based stage index.
    pub index: usize,
    /// Number of stages; 0 for per-flow loads, whose flows each have their own.
    pub count: usize,
    /// The planned arrival rate at that time, per second (open model; 0 otherwise).
    pub rate: f64,
    /// The target concurrency at that time (ramping closed model).
    pub concurrency: Option<u64>,
}

impl LoadModel {
    /// The stage `elapsed` after the schedule began, with the open model's planned
    /// arrival rate or the ramping model's target concurrency; `None` for the plain
    /// closed model and after the last stage.
    pub fn stage_at(&self, elapsed: Duration) -> Option<StageNow> {
        self.stage_at_with_ends(elapsed, &[])
    }

    /// [`LoadModel::stage_at`], knowing when parts of the load ended before their plan
    /// did: `ended` holds `(index in `[`LoadModel::parts`]`, elapsed time)` of closed
    /// and ramping loads whose session count ran out (or that were stopped); from then
    /// on such a part neither counts in the target concurrency nor keeps the load running.
    pub fn stage_at_with_ends(
        &self,
        elapsed: Duration,
        ended: &[(usize, Duration)],
    ) -> Option<StageNow> {
        let has_ended = |part: usize| ended.iter().any(|&(i, at)| i == part && at <= elapsed);
        if let LoadModel::PerFlow(loads) = self {
            return per_flow_stage(loads, elapsed, has_ended);
        }
        if has_ended(0) && !matches!(self, LoadModel::Open { .. }) {
            return None;
        }
        if let LoadModel::Ramping { stages, .. } = self {
            let mut t = elapsed;
            for (index, stage) in stages.iter().enumerate() {
                if t < stage.duration() {
                    return Some(StageNow {
                        index,
                        count: stages.len(),
                        rate: 0.0,
                        concurrency: self.concurrency_at(elapsed),
                    });
                }
                t -= stage.duration();
            }
            return None;
        }
        let LoadModel::Open { stages, .. } = self else {
            return None;
        };
        let mut t = elapsed.as_secs_f64();
        for (index, stage) in stages.iter().enumerate() {
            let d = stage.duration().as_secs_f64();
            if t < d {
                let (a, b) = stage.rates();
                let rate = if d > 0.0 { a + (b - a) * t / d } else { a };
                return Some(StageNow {
                    index,
                    count: stages.len(),
                    rate,
                    concurrency: None,
                });
            }
            t -= d;
        }
        None
    }
}

/// Where per-flow loads are `elapsed` after the load began: while any flow's load runs,
/// the sum of the open flows' planned rates and of the closed flows' target
/// concurrencies (a plain closed flow counts its `concurrency` until its `duration`, or
/// until it ended when `has_ended` says so: its session count ran out).
fn per_flow_stage(
    loads: &[LoadModel],
    elapsed: Duration,
    has_ended: impl Fn(usize) -> bool,
) -> Option<StageNow> {
    let mut running = false;
    let mut rate = 0.0;
    let mut concurrency = None::<u64>;
    for (index, load) in loads.iter().enumerate() {
        if has_ended(index) && !matches!(load, LoadModel::Open { .. }) {
            continue;
        }
        let level = match load {
            LoadModel::Closed {
                concurrency,
                duration,
                ..
            } => duration.is_none_or(|d| elapsed < d).then_some(*concurrency),
            _ => load.stage_at(elapsed).map(|s| {
                rate += s.rate;
                s.concurrency.unwrap_or(0)
            }),
        };
        if let Some(level) = level {
            running = true;
            if !matches!(load, LoadModel::Open { .. }) {
                concurrency = Some(concurrency.unwrap_or(0).saturating_add(level));
            }
        }
    }
    running.then_some(StageNow {
        index: 0,
        count: 0,
        rate,
        concurrency,
    })
}

impl LoadModel {
    /// The live views show a planned arrival rate: every part is an open model.
    pub fn plans_rate(&self) -> bool {
        self.parts()
            .iter()
            .all(|p| matches!(p, LoadModel::Open { .. }))
    }

    /// The live views show a target concurrency: a ramping closed model, or per-flow
    /// loads none of which is open (their concurrencies add up).
    pub fn plans_concurrency(&self) -> bool {
        match self {
            LoadModel::Ramping { .. } => true,
            LoadModel::PerFlow(loads) => loads.iter().all(|p| !matches!(p, LoadModel::Open { .. })),
            _ => false,
        }
    }
}

/// Intended start offsets of the open model's sessions, evenly spaced according to the
/// (possibly ramping) arrival rate: session `n` starts when the integral of the rate
/// reaches `n`. Deterministic, so two runs of one scenario offer the same load.
#[derive(Clone, Debug)]
pub struct Arrivals<'a> {
    stages: &'a [Stage],
    index: usize,
    stage_start: f64,
    before: f64,
    next: u64,
}

impl Iterator for Arrivals<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        loop {
            let stage = self.stages.get(self.index)?;
            let m = self.next as f64 - self.before;
            if m < stage.sessions() - 1e-9 {
                self.next += 1;
                let t = self.stage_start + stage.time_of(m.max(0.0));
                return Some(Duration::from_secs_f64(t));
            }
            self.before += stage.sessions();
            self.stage_start += stage.duration().as_secs_f64();
            self.index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("250ms"), Ok(ms(250)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1m 30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("100us"), Ok(Duration::from_micros(100)));
        for bad in ["", "5", "5 parsecs", "s", "1.2.3s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(ms(50)), "50ms");
        assert_eq!(format_duration(ms(2000)), "2s");
        assert_eq!(format_duration(ms(1500)), "1500ms");
    }

    #[test]
    fn stage_at_follows_ramps_and_holds() {
        let load = LoadModel::Open {
            stages: vec![
                Stage::Ramp {
                    from: Rate { per_sec: 10.0 },
                    to: Rate { per_sec: 30.0 },
                    over: Duration::from_secs(10),
                },
                Stage::Hold {
                    rate: Rate { per_sec: 50.0 },
                    duration: Duration::from_secs(5),
                },
            ],
            max_in_flight: 10,
        };
        let at = |s: f64| load.stage_at(Duration::from_secs_f64(s));
        assert_eq!(
            at(5.0).map(|s| (s.index, s.count, s.rate)),
            Some((0, 2, 20.0))
        );
        assert_eq!(at(12.0).map(|s| (s.index, s.rate)), Some((1, 50.0)));
        assert_eq!(at(15.0), None);
    }

    fn ramping(stages: Vec<LevelStage>, share: ShardShare) -> LoadModel {
        LoadModel::Ramping {
            stages,
            sessions: None,
            share,
        }
    }

    fn up_hold_down() -> Vec<LevelStage> {
        let secs = Duration::from_secs;
        vec![
            LevelStage::Ramp {
                from: 0,
                to: 10,
                over: secs(10),
            },
            LevelStage::Hold {
                count: 10,
                duration: secs(5),
            },
            LevelStage::Ramp {
                from: 10,
                to: 0,
                over: secs(10),
            },
        ]
    }

    #[test]
    fn ramping_concurrency_follows_the_stages() {
        let load = ramping(up_hold_down(), ShardShare::WHOLE);
        let at = |s: f64| load.concurrency_at(Duration::from_secs_f64(s));
        assert_eq!(at(0.0), Some(0));
        assert_eq!(at(3.0), Some(3));
        assert_eq!(at(3.5), Some(3));
        assert_eq!(at(12.0), Some(10));
        assert_eq!(at(20.0), Some(5));
        assert_eq!(at(25.0), None);
        assert_eq!(load.max_concurrent(), 10);
        assert_eq!(load.planned_duration(), Some(Duration::from_secs(25)));
        assert_eq!(load.planned_sessions(), None);
        let stage = load.stage_at(Duration::from_secs(12)).unwrap();
        assert_eq!(
            (stage.index, stage.count, stage.concurrency),
            (1, 3, Some(10))
        );
    }

    #[test]
    fn a_slot_takes_its_turn_when_the_ramp_reaches_it() {
        let load = ramping(up_hold_down(), ShardShare::WHOLE);
        let turn = |slot: u64, s: f64| {
            load.slot_turn(slot, Duration::from_secs_f64(s))
                .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
        };
        // Slot 3 (the 4th) runs once the ramp reaches 4, at 4 s.
        assert_eq!(turn(3, 0.0), Some(4.0));
        assert_eq!(turn(3, 6.0), Some(6.0));
        // On the way down, slot 3 stops when the level drops below 4 (at 21 s) …
        assert_eq!(turn(3, 20.5), Some(20.5));
        assert_eq!(turn(3, 21.5), None);
        // … and slot 9 (the 10th) runs only while the level is 10.
        assert_eq!(turn(9, 0.0), Some(10.0));
        assert_eq!(turn(9, 15.5), None);
        assert_eq!(turn(10, 0.0), None, "beyond the peak");
    }

    #[test]
    fn shards_split_the_concurrency_at_every_instant() {
        let whole = ramping(up_hold_down(), ShardShare::WHOLE);
        let shards: Vec<LoadModel> = (1..=3)
            .map(|index| ramping(up_hold_down(), ShardShare { index, count: 3 }))
            .collect();
        for tenth in 0..250 {
            let t = Duration::from_millis(tenth * 100);
            let sum: u64 = shards.iter().map(|s| s.concurrency_at(t).unwrap()).sum();
            assert_eq!(Some(sum), whole.concurrency_at(t), "at {t:?}");
            // A shard's slot j has its turn exactly while the shard's level exceeds j.
            for shard in &shards {
                let level = shard.concurrency_at(t).unwrap();
                for slot in 0..4 {
                    let now = shard.slot_turn(slot, t) == Some(t);
                    assert_eq!(now, slot < level, "slot {slot} at {t:?}");
                }
            }
        }
        assert_eq!(
            shards
                .iter()
                .map(LoadModel::max_concurrent)
                .collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
    }

    #[test]
    fn rates() {
        assert_eq!(Rate::parse("100/s").unwrap().per_sec, 100.0);
        assert_eq!(Rate::parse("600/m").unwrap().per_sec, 10.0);
        assert_eq!(Rate::parse("0.5 / s").unwrap().per_sec, 0.5);
        for bad in ["100", "x/s", "-1/s", "10/d"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pauses_stay_in_range() {
        let mut rng = rand::rng();
        let u = Pause::Uniform {
            min: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let e = Pause::Exponential {
            mean: Duration::from_millis(10),
        };
        for _ in 0..1000 {
            let d = u.sample(&mut rng);
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(500));
            assert!(e.sample(&mut rng) <= Duration::from_millis(200));
        }
        assert_eq!(
            Pause::Fixed(Duration::from_millis(7)).sample(&mut rng),
            Duration::from_millis(7)
        );
    }

    #[test]
    fn arrivals_follow_holds_and_ramps() {
        let hold = LoadModel::Open {
            stages: vec![Stage::Hold {
                rate: Rate { per_sec: 10.0 },
                duration: Duration::from_secs(2),
            }],
            max_in_flight: 10,
        };
        let times: Vec<Duration> = hold.arrivals().unwrap().collect();
        assert_eq!(times.len(), 20);
        assert_eq!(times[1], Duration::from_millis(100));
        assert_eq!(hold.planned_sessions(), Some(20));

        // 0/s → 10/s over 10 s: 50 sessions, denser towards the end.
        let ramp = LoadModel::Open {
            stages: vec![
                Stage::Ramp {
                    from: Rate { per_sec: 0.0 },
                    to: Rate { per_sec: 10.0 },
                    over: Duration::from_secs(10),
                },
                Stage::Hold {
                    rate: Rate { per_sec: 10.0 },
                    duration: Duration::from_secs(1),
                },
            ],
            max_in_flight: 10,
        };
        let times: Vec<f64> = ramp.arrivals().unwrap().map(|d| d.as_secs_f64()).collect();
        assert_eq!(times.len(), 60);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        // Cumulative count at t is t²/2, so session 8 starts at t = 4 s.
        assert!((times[8] - 4.0).abs() < 1e-6, "{}", times[8]);
        assert!((times[50] - 10.0).abs() < 1e-6, "{}", times[50]);
        assert_eq!(ramp.planned_duration(), Some(Duration::from_secs(11)));
        assert_eq!(ramp.planned_sessions(), Some(60));
    }

    #[test]
    fn per_flow_loads_add_up_their_parts() {
        let open = LoadModel::Open {
            stages: vec![Stage::Hold {
                rate: Rate { per_sec: 10.0 },
                duration: Duration::from_secs(4),
            }],
            max_in_flight: 5,
        };
        let closed = LoadModel::Closed {
            sessions: Some(30),
            duration: None,
            concurrency: 3,
        };
        let ramp = ramping(up_hold_down(), ShardShare::WHOLE);
        let load = LoadModel::PerFlow(vec![open.clone(), closed.clone()]);
        assert_eq!(load.parts().len(), 2);
        assert_eq!(closed.parts(), std::slice::from_ref(&closed));
        assert_eq!(load.max_concurrent(), 8);
        assert_eq!(load.planned_sessions(), Some(70));
        // The closed flow has no end in time: nor has the run.
        assert_eq!(load.planned_duration(), None);
        assert!(load.reuses_slots());
        let timed = LoadModel::PerFlow(vec![open.clone(), ramp.clone()]);
        assert_eq!(timed.planned_duration(), Some(Duration::from_secs(25)));
        assert_eq!(timed.planned_sessions(), None);
        // Live: the open flow's rate while it runs; no common stage.
        let now = timed.stage_at(Duration::from_secs(2)).unwrap();
        assert_eq!((now.count, now.rate, now.concurrency), (0, 10.0, Some(2)));
        assert_eq!(timed.stage_at(Duration::from_secs(25)), None);
        assert!(!timed.plans_rate() && !timed.plans_concurrency());
        let closed_only = LoadModel::PerFlow(vec![closed.clone(), ramp]);
        assert!(closed_only.plans_concurrency());
        let now = closed_only.stage_at(Duration::from_secs(12)).unwrap();
        assert_eq!(now.concurrency, Some(13));
        // The closed flow's 30 sessions ran out at 5 s: from then on only the ramp counts.
        let ended = [(0, Duration::from_secs(5))];
        let before = closed_only.stage_at_with_ends(Duration::from_secs(4), &ended);
        assert_eq!(before.unwrap().concurrency, Some(3 + 4));
        let after = closed_only.stage_at_with_ends(Duration::from_secs(12), &ended);
        assert_eq!(after.unwrap().concurrency, Some(10));
        // Once every part ended, the load is over.
        let all = [(0, Duration::from_secs(5)), (1, Duration::from_secs(6))];
        assert_eq!(
            closed_only.stage_at_with_ends(Duration::from_secs(7), &all),
            None
        );
        // An ended single load is over too.
        let single = [(0, Duration::from_secs(3))];
        assert_eq!(
            ramping(up_hold_down(), ShardShare::WHOLE)
                .stage_at_with_ends(Duration::from_secs(4), &single),
            None
        );
        assert!(
            ramping(up_hold_down(), ShardShare::WHOLE)
                .stage_at_with_ends(Duration::from_secs(2), &single)
                .is_some()
        );
        assert!(LoadModel::PerFlow(vec![open.clone(), open]).plans_rate());
        // One session per slot: nothing is reused.
        let once = LoadModel::PerFlow(vec![LoadModel::Closed {
            sessions: Some(3),
            duration: None,
            concurrency: 3,
        }]);
        assert!(!once.reuses_slots());
    }
}
