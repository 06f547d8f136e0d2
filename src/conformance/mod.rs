//! `sigbench conformance`: the built-in suite of per-rule cases, run against a target
//! (the embedded reference server by default), with one verdict per case.
//!
//! - [`catalog`]: the suite files compiled into the binary, loading and `--only`.
//! - [`target`]: what is known of the target's settings, which cases it can run (the
//!   others are skipped with a reason), and the embedded servers' configurations.
//! - [`execute`]: running the selected cases in parallel and judging each one from its
//!   run's failures and thresholds.
//! - [`deviations`]: the expected-deviations file (known failures: `XFAIL`; listed cases
//!   that pass: `XPASS`).
//! - [`report`]: the JSON report, and [`junit`] the JUnit XML for CI.
//!
//! Cases are isolated: each runs with its own generated accounts (account names carry a
//! per-case run id) and channel names built from `${session}`.

pub mod catalog;
pub mod deviations;
pub mod execute;
pub mod junit;
pub mod report;
pub mod target;

use std::time::{Duration, SystemTime};

use serde::Serialize;

pub use catalog::{CatalogEntry, SUITE_FILES};
pub use deviations::Deviations;
pub use execute::{Options, TargetSpec, run};
pub use target::TargetSettings;

pub use crate::scenario::Tier;

/// The verdict on one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// The target cannot run the case (a setting it needs is unknown or different), or
    /// an interrupt came before it ran or cut it off.
    Skip,
    /// The case could not be judged (e.g. its accounts could not log in).
    Error,
    /// Failed, and listed in the deviations file.
    Xfail,
    /// Passed, but listed in the deviations file: the entry is stale.
    Xpass,
    /// Failed a rule that is a choice of docs/protocol.md (a non-strict case), without
    /// `--strict`: reported, but the run does not fail.
    #[serde(rename = "non-strict")]
    NonStrict,
}

impl Verdict {
    /// The word printed in front of the case.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
            Verdict::Error => "ERROR",
            Verdict::Xfail => "XFAIL",
            Verdict::Xpass => "XPASS",
            Verdict::NonStrict => "NON-STRICT",
        }
    }

    /// True for the verdicts that make the run fail.
    pub fn fails_run(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Error)
    }

    /// True when the server did what the case expects.
    pub fn passed(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Xpass)
    }
}

/// The first thing that went wrong in a case: the step, what was expected and what
/// came (or did not come), with the frames involved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub step: String,
    pub role: String,
    /// `expected 10407 ROOM_MEMBER_HAS_EXISTS, got 200 OK`, `no INVITE within 2s`, …
    pub reason: String,
    pub detail: String,
    pub frames: Vec<String>,
}

/// The outcome of one case.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CaseResult {
    pub spec: String,
    pub name: String,
    /// The suite file the case comes from.
    pub file: String,
    pub description: String,
    /// `strict`: the rule comes from the signaling model; `non-strict`: it is a choice
    /// of docs/protocol.md (a failure is `NON-STRICT` unless `--strict`).
    pub tier: Tier,
    pub verdict: Verdict,
    /// Why it was skipped, could not run, or is listed as a deviation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For failures (including expected ones): the first difference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<Difference>,
    /// The negative checks ("must not arrive") of a case that passed, and how long each
    /// waited: a pass proves only that nothing came within these windows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub negative_checks: Vec<NegativeCheck>,
    /// Failed sessions out of sessions run (most cases run one session).
    pub sessions_failed: u64,
    pub sessions: u64,
    #[serde(rename = "duration_ms", serialize_with = "report::millis")]
    pub duration: Duration,
}

/// One negative check of a passed case: nothing matching came within `waited`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NegativeCheck {
    pub step: String,
    pub role: String,
    #[serde(rename = "waited_ms", serialize_with = "report::millis")]
    pub waited: Duration,
    /// How many times the check ran (more than 1 inside `repeat`).
    pub times: u64,
}

/// A whole suite run.
#[derive(Clone, Debug)]
pub struct SuiteOutcome {
    pub target: String,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub settings: TargetSettings,
    /// `--timeout-scale`: every wait of the suite was multiplied by this.
    pub timeout_scale: f64,
    /// `--strict`: failures of non-strict cases were reported as `FAIL`.
    pub strict: bool,
    pub cases: Vec<CaseResult>,
}

/// Counts by verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub error: usize,
    pub xfail: usize,
    pub xpass: usize,
    pub non_strict: usize,
    /// Cases that ran, by tier: (passed, ran) of the strict ones, then of the others.
    pub strict_passed: usize,
    pub strict_ran: usize,
    pub non_strict_passed: usize,
    pub non_strict_ran: usize,
}

impl Counts {
    pub fn of(cases: &[CaseResult]) -> Counts {
        let mut c = Counts::default();
        for case in cases {
            *match case.verdict {
                Verdict::Pass => &mut c.pass,
                Verdict::Fail => &mut c.fail,
                Verdict::Skip => &mut c.skip,
                Verdict::Error => &mut c.error,
                Verdict::Xfail => &mut c.xfail,
                Verdict::Xpass => &mut c.xpass,
                Verdict::NonStrict => &mut c.non_strict,
            } += 1;
            if case.verdict == Verdict::Skip {
                continue;
            }
            let (passed, ran) = match case.tier {
                Tier::Strict => (&mut c.strict_passed, &mut c.strict_ran),
                Tier::NonStrict => (&mut c.non_strict_passed, &mut c.non_strict_ran),
            };
            *ran += 1;
            if case.verdict.passed() {
                *passed += 1;
            }
        }
        c
    }

    /// Cases that ran (everything but skips).
    pub fn ran(&self) -> usize {
        self.pass + self.fail + self.error + self.xfail + self.xpass + self.non_strict
    }

    /// Cases where the server behaved as the case expects.
    pub fn passed(&self) -> usize {
        self.pass + self.xpass
    }

    /// The last line of the output: `conformance: 97/98 cases pass, 3 skipped, …`.
    pub fn summary_line(&self) -> String {
        let mut line = format!(
            "conformance: {}/{} cases pass (strict {}/{}, non-strict {}/{})",
            self.passed(),
            self.ran(),
            self.strict_passed,
            self.strict_ran,
            self.non_strict_passed,
            self.non_strict_ran
        );
        for (n, what) in [
            (self.fail, "failed"),
            (
                self.non_strict,
                "NON-STRICT (choices of docs/protocol.md; --strict fails them)",
            ),
            (self.error, "could not run"),
            (self.xfail, "expected to fail"),
            (self.xpass, "listed as deviations but pass"),
            (self.skip, "skipped"),
        ] {
            if n > 0 {
                line.push_str(&format!(", {n} {what}"));
            }
        }
        line
    }
}

impl SuiteOutcome {
    pub fn counts(&self) -> Counts {
        Counts::of(&self.cases)
    }

    /// True when no case failed or could not run.
    pub fn ok(&self) -> bool {
        !self.cases.iter().any(|c| c.verdict.fails_run())
    }
}

/// Why a suite could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// The built-in suite does not compile (a bug in this build).
    #[error("the built-in conformance suite is invalid:\n{0}")]
    Suite(String),
    /// `--only` selects nothing.
    #[error("--only {0} selects no case (see `sigbench conformance --list`)")]
    NothingSelected(String),
    #[error("target unreachable: {0}")]
    Unreachable(String),
    #[error("{0}")]
    Usage(String),
}
