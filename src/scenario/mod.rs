//! The scenario language: a YAML file describing one call flow between roles, turned
//! into a validated, typed [`Plan`] that the runner executes. The runner never sees YAML.
//!
//! Loading goes text → located YAML tree (`node`, serde-saphyr) → `--set` overrides
//! (`overrides`) → compilation (`compile`): every key checked, names resolved to
//! indexes, templates compiled. Every error says `file:line:column: what was expected`.
//! `docs/scenarios.md` is the user documentation of the language.
//!
//! Conformance cases use the same language in *suite files* ([`check_suite_str`]): many
//! cases per file, each with a rule id and the server settings it requires
//! ([`Requirement`]), whose values may appear in durations ([`SettingValues`]).
//!
//! Run-time pieces the runner uses per session:
//! - [`Vars`]: the session's variables, created by [`Plan::new_vars`].
//! - [`Template::render`]: op params; [`Expect::check`]: responses;
//!   [`Save::apply_response`] / [`Save::apply`]: saved values;
//!   [`PushMatcher::find`]: awaits and refutes; [`Pause::sample`]: think time;
//!   [`LoadModel::arrivals`]: the open model's intended start times.

mod compile;
mod data;
mod error;
mod expect;
mod field;
mod load_flags;
mod matcher;
pub(crate) mod node;
mod overrides;
mod path;
mod plan;
mod settings;
mod suite;
mod template;
mod threshold;
mod timing;

use std::path::{Path, PathBuf};

pub(crate) use compile::{Cx, Fields};
pub use data::{DataPlan, FeedOrder, Feeder, FeederDry, Generator};
pub(crate) use error::did_you_mean;
pub use error::{ErrorKind, ScenarioError};
pub use expect::{CodeMatch, ExactlyOne, Expect, Mismatch, RawExpect, Save};
pub use field::{FieldCheck, JsonType, Pred};
pub use load_flags::LoadFlags;
pub use matcher::{Awaited, Closest, Difference, PushMatcher};
pub use path::JsonPath;
pub use plan::{
    AbortRule, AwaitStep, EventuallyStep, Flow, LoginStep, Metric, MetricKind, OpStep,
    ParallelStep, Plan, RawFrame, RawPayload, RawStep, RefuteStep, RepeatStep, Role, Since, Step,
    StepId, StepKind, Target,
};
pub use settings::{Requirement, Setting, SettingKind, SettingValues};
pub use suite::{Case, Suite, Tier, check_suite_str};
pub use template::{Rendered, Slot, StrTemplate, Template, VarLayout, Vars};
pub use threshold::{MetricRef, Stat, Threshold};
pub use timing::{
    Arrivals, LevelStage, LoadModel, Pause, Rate, ShardShare, Stage, StageNow, format_duration,
    parse_duration,
};

/// Loads, overrides and validates a scenario file. `overrides` are `--set` pairs
/// (`("load.sessions", "10")`), applied in order before validation. Returns the first
/// error (in document order); [`check_file`] returns them all.
pub fn load_file(path: &Path, overrides: &[(String, String)]) -> Result<Plan, ScenarioError> {
    check_file(path, overrides).map_err(first)
}

/// Like [`load_file`] for text already in memory; `name_for_errors` is the file name
/// errors show (and whose stem names a plan without `name:`).
pub fn load_str(
    name_for_errors: &str,
    text: &str,
    overrides: &[(String, String)],
) -> Result<Plan, ScenarioError> {
    check_str(name_for_errors, text, overrides).map_err(first)
}

/// Validates one file and returns every error found.
pub fn check_file(path: &Path, overrides: &[(String, String)]) -> Result<Plan, Vec<ScenarioError>> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => check_str(&name, &text, overrides),
        Err(e) => Err(vec![ScenarioError {
            file: name,
            location: None,
            message: format!("cannot read the scenario: {e}"),
            kind: ErrorKind::Io,
        }]),
    }
}

/// Validates scenario text and returns every error found.
pub fn check_str(
    name_for_errors: &str,
    text: &str,
    overrides: &[(String, String)],
) -> Result<Plan, Vec<ScenarioError>> {
    let mut root = node::parse_file(name_for_errors, text)?;
    for (i, (key, value)) in overrides.iter().enumerate() {
        overrides::apply(&mut root, i, key, value).map_err(|message| {
            vec![ScenarioError {
                file: name_for_errors.to_string(),
                location: None,
                message,
                kind: ErrorKind::Override,
            }]
        })?;
    }
    let stem = Path::new(name_for_errors).file_stem().map_or_else(
        || name_for_errors.to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    compile::compile(compile::Cx::new(name_for_errors, overrides), &root, &stem)
}

/// Parses `--set` arguments (`key=value`) into override pairs.
pub fn parse_overrides<S: AsRef<str>>(args: &[S]) -> Result<Vec<(String, String)>, String> {
    args.iter()
        .map(|a| overrides::split(a.as_ref()).map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// The outcome of `sigbench check` for one file.
#[derive(Debug)]
pub struct FileCheck {
    pub path: PathBuf,
    pub result: Result<Plan, Vec<ScenarioError>>,
}

/// Validates each file (for `sigbench check`), without connecting anywhere.
pub fn check_files(paths: &[PathBuf], overrides: &[(String, String)]) -> Vec<FileCheck> {
    paths
        .iter()
        .map(|p| FileCheck {
            path: p.clone(),
            result: check_file(p, overrides),
        })
        .collect()
}

fn first(mut errors: Vec<ScenarioError>) -> ScenarioError {
    if errors.is_empty() {
        // compile never returns an empty error list; keep a message anyway.
        return ScenarioError {
            file: String::new(),
            location: None,
            message: "invalid scenario".into(),
            kind: ErrorKind::Invalid,
        };
    }
    errors.swap_remove(0)
}
