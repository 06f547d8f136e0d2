//! Running the selected cases: each case is one run of the runner with its own accounts,
//! several at a time; its verdict comes from the run's failures (the first one, by time,
//! is the case's first difference) and thresholds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::catalog::{self, CatalogEntry};
use super::deviations::Deviations;
use super::target::{ConfigKey, TargetSettings, embedded_config};
use super::{CaseResult, ConformanceError, Difference, NegativeCheck, SuiteOutcome, Tier, Verdict};
use crate::drivers::Driver;
use crate::drivers::profile::{ProfileDriver, ProfileRef};
use crate::metrics::Results;
use crate::runner::accounts::AccountSource;
use crate::runner::client::{Device, Target};
use crate::runner::{Run, RunError, RunOptions};
use crate::scenario::Plan;
use crate::server::{Auth, ServerConfig, ServerHandle};

/// Longest a single case may take before it is abandoned as an error (the race case,
/// the slowest, takes a few seconds).
const CASE_LIMIT: Duration = Duration::from_secs(120);
/// How long the first connection to a remote target may take (times --timeout-scale).
const PROBE_LIMIT: Duration = Duration::from_secs(5);

/// Where the suite runs.
#[derive(Clone, Debug)]
// One value per conformance run: the size of the embedded server's config costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum TargetSpec {
    /// The reference server in this process, configured from `base` plus what each
    /// case needs. Logins use a secret made up for the run.
    Embedded { base: ServerConfig },
    /// A server started by someone else; `ca_cert` (PEM) is trusted for `wss://`.
    Remote {
        url: String,
        secret: Option<String>,
        ca_cert: Option<Vec<u8>>,
    },
}

/// How to run the suite.
pub struct Options {
    pub target: TargetSpec,
    /// What is known of the target (flags); for the embedded server, missing TTLs are
    /// replaced by short ones.
    pub settings: TargetSettings,
    /// `--only` patterns; empty: every case.
    pub only: Vec<String>,
    /// Cases run at once.
    pub jobs: usize,
    pub deviations: Deviations,
    /// Cancelled on Ctrl-C: cases not yet started are not started; the running ones
    /// finish.
    pub interrupt: CancellationToken,
    /// Cancelled on a second Ctrl-C: the running cases are cut off at once (their
    /// verdict is a skip, unless they failed before).
    pub stop_now: CancellationToken,
    /// `--profile`: run every case through this wire profile. Cases about the built-in
    /// framing are skipped unless the profile says `framing: builtin`.
    pub profile: Option<ProfileRef>,
    /// `--timeout-scale`: multiplies every wait, quiet window and eventually-deadline.
    pub timeout_scale: f64,
    /// `--strict`: failures of non-strict cases are `FAIL`, not `NON-STRICT`.
    pub strict: bool,
}

impl Options {
    /// Every case of the suite against the embedded server started from `base`, as
    /// `sigbench conformance` runs it without flags: 16 cases at a time, no deviations,
    /// waits unscaled, non-strict cases reported as `NON-STRICT`, no interrupt.
    pub fn embedded(base: ServerConfig) -> Options {
        Options {
            target: TargetSpec::Embedded { base },
            settings: TargetSettings::default(),
            only: Vec::new(),
            jobs: 16,
            deviations: Deviations::default(),
            interrupt: CancellationToken::new(),
            stop_now: CancellationToken::new(),
            profile: None,
            timeout_scale: 1.0,
            strict: false,
        }
    }
}

/// One target per distinct embedded configuration, or the remote target.
struct Targets {
    remote: Option<(Target, Option<String>)>,
    embedded: HashMap<ConfigKey, Target>,
    secret: Option<String>,
    servers: Vec<ServerHandle>,
    base: Option<ServerConfig>,
    settings: TargetSettings,
}

impl Targets {
    fn for_case(&self, entry: &CatalogEntry) -> Option<(Target, Option<String>)> {
        if let Some(remote) = &self.remote {
            return Some(remote.clone());
        }
        let base = self.base.as_ref()?;
        let config = embedded_config(base, &self.settings, &entry.case.requires);
        let target = self.embedded.get(&ConfigKey::of(&config))?.clone();
        Some((target, self.secret.clone()))
    }

    async fn shutdown(self) {
        for server in self.servers {
            server.shutdown().await;
        }
    }
}

/// Runs the suite; `on_case` sees each result as soon as it is known, in suite order.
pub async fn run(
    options: Options,
    mut on_case: impl FnMut(&CaseResult),
) -> Result<SuiteOutcome, ConformanceError> {
    let started_at = SystemTime::now();
    let clock = tokio::time::Instant::now();
    let settings = match options.target {
        TargetSpec::Embedded { .. } => options.settings.clone().for_embedded(),
        TargetSpec::Remote { .. } => options.settings.clone(),
    };
    let entries = catalog::select(catalog::load(&settings.values())?, &options.only)?;
    let profile = options.profile.as_ref();
    let targets = start_targets(
        &options.target,
        &settings,
        &entries,
        profile,
        options.timeout_scale,
    )
    .await?;
    let target_label = match &options.target {
        TargetSpec::Embedded { .. } => "embedded reference server".to_string(),
        TargetSpec::Remote { url, .. } => url.clone(),
    };
    let run_base = format!("{:08x}", rand::random::<u32>());
    let jobs = options.jobs.max(1);
    let mut cases = Vec::with_capacity(entries.len());
    {
        let targets = &targets;
        let settings = &settings;
        let stops = Stops {
            interrupt: &options.interrupt,
            now: &options.stop_now,
        };
        let run_base = &run_base;
        let rules = CaseRules {
            timeout_scale: options.timeout_scale,
            strict: options.strict,
        };
        // Run as many cases at once as allowed, in whatever order they finish, but
        // report them in suite order.
        let mut results = futures_util::stream::iter(entries.iter().enumerate())
            .map(|(index, entry)| async move {
                let run_id = format!("{run_base}c{index:03}");
                (
                    index,
                    run_case(entry, targets, settings, run_id, stops, rules, profile).await,
                )
            })
            .buffer_unordered(jobs);
        let mut done: std::collections::BTreeMap<usize, (&CatalogEntry, CaseResult)> =
            std::collections::BTreeMap::new();
        while let Some((index, finished)) = results.next().await {
            done.insert(index, finished);
            while let Some((entry, mut result)) = done.remove(&cases.len()) {
                options.deviations.apply(entry, &mut result);
                on_case(&result);
                cases.push(result);
            }
        }
    }
    targets.shutdown().await;
    Ok(SuiteOutcome {
        target: target_label,
        started_at,
        duration: clock.elapsed(),
        settings,
        timeout_scale: options.timeout_scale,
        strict: options.strict,
        cases,
    })
}

async fn start_targets(
    spec: &TargetSpec,
    settings: &TargetSettings,
    entries: &[CatalogEntry],
    profile: Option<&ProfileRef>,
    timeout_scale: f64,
) -> Result<Targets, ConformanceError> {
    match spec {
        TargetSpec::Remote {
            url,
            secret,
            ca_cert,
        } => {
            let tls = crate::runner::tls::TlsSettings {
                ca_cert: ca_cert.clone(),
            };
            let target = Target::resolve(url, &tls)
                .await
                .map_err(ConformanceError::Usage)?;
            // Fail fast, once, rather than once per case; a slow handshake is given the
            // time every wait of the suite gets (--timeout-scale), or a busy machine
            // reads as an unreachable target.
            let who = crate::drivers::Identity {
                account: "probe",
                token: "",
                device: "probe",
            };
            let driver: Arc<dyn Driver> = match profile {
                Some(p) => Arc::new(ProfileDriver::new(p.0.clone())),
                None => Arc::new(crate::drivers::native::Native),
            };
            let limit = PROBE_LIMIT.mul_f64(timeout_scale.max(1.0));
            Device::connect(&target, None, limit, &*driver, who)
                .await
                .map_err(|e| ConformanceError::Unreachable(e.to_string()))?
                .disconnect()
                .await;
            Ok(Targets {
                remote: Some((target, secret.clone())),
                embedded: HashMap::new(),
                secret: secret.clone(),
                servers: Vec::new(),
                base: None,
                settings: settings.clone(),
            })
        }
        TargetSpec::Embedded { base } => {
            let secret = format!("conformance-{:016x}", rand::random::<u64>());
            let base = ServerConfig {
                auth: Auth::Secret(secret.clone()),
                ..base.clone()
            };
            let mut targets = Targets {
                remote: None,
                embedded: HashMap::new(),
                secret: Some(secret),
                servers: Vec::new(),
                base: Some(base.clone()),
                settings: settings.clone(),
            };
            for entry in entries {
                let config = embedded_config(&base, settings, &entry.case.requires);
                let key = ConfigKey::of(&config);
                if targets.embedded.contains_key(&key) {
                    continue;
                }
                let server = crate::server::spawn(config).await.map_err(|e| {
                    ConformanceError::Unreachable(format!("cannot start the embedded server: {e}"))
                })?;
                let target = Target::resolve(&server.url(), &Default::default())
                    .await
                    .map_err(ConformanceError::Unreachable)?;
                targets.servers.push(server);
                targets.embedded.insert(key, target);
            }
            Ok(targets)
        }
    }
}

/// The signals a case listens to.
#[derive(Clone, Copy)]
struct Stops<'a> {
    /// No new case starts.
    interrupt: &'a CancellationToken,
    /// The running cases end at once.
    now: &'a CancellationToken,
}

/// How every case of a run is judged.
#[derive(Clone, Copy)]
struct CaseRules {
    timeout_scale: f64,
    strict: bool,
}

async fn run_case<'e>(
    entry: &'e CatalogEntry,
    targets: &Targets,
    settings: &TargetSettings,
    run_id: String,
    stops: Stops<'_>,
    rules: CaseRules,
    profile: Option<&ProfileRef>,
) -> (&'e CatalogEntry, CaseResult) {
    let case = &entry.case;
    let mut result = CaseResult {
        spec: case.spec.clone(),
        name: case.name.clone(),
        file: entry.file.to_string(),
        description: case.description.clone(),
        tier: case.tier,
        verdict: Verdict::Skip,
        note: None,
        difference: None,
        negative_checks: Vec::new(),
        sessions_failed: 0,
        sessions: 0,
        duration: Duration::ZERO,
    };
    if targets.remote.is_some()
        && let Some(why) = settings.unmet(&case.requires)
    {
        result.note = Some(why);
        return (entry, result);
    }
    if stops.interrupt.is_cancelled() {
        result.note = Some("interrupted before it ran".into());
        return (entry, result);
    }
    let Some((target, secret)) = targets.for_case(entry) else {
        result.verdict = Verdict::Error;
        result.note = Some("no target for this case".into());
        return (entry, result);
    };
    if let Some(p) = profile
        && case.framing
        && !p.0.builtin_framing
    {
        result.note = Some(format!(
            "about the built-in framing; profile '{}' has its own",
            p.0.name
        ));
        return (entry, result);
    }
    let driver = match crate::drivers::driver_for_plan(&case.plan, profile, &target.url) {
        Ok(d) => d,
        Err(why) => {
            result.verdict = Verdict::Error;
            result.note = Some(why);
            return (entry, result);
        }
    };
    let options = RunOptions {
        target,
        driver,
        accounts: AccountSource::generated(&run_id, None, secret),
        run_id,
        sources: Vec::new(),
        // A first signal lets the case finish; the second cuts its sessions off.
        interrupt: stops.now.child_token(),
        grace: Duration::ZERO,
        stop_now: stops.now.child_token(),
        start_at: None,
        server_in_process: targets.remote.is_none(),
        tracer: None,
    };
    let mut plan = case.plan.clone();
    plan.scale_waits(rules.timeout_scale);
    let limit = CASE_LIMIT.mul_f64(rules.timeout_scale.max(1.0));
    let started = tokio::time::Instant::now();
    let outcome = match Run::new(plan.clone(), options) {
        Ok(run) => tokio::time::timeout(limit, run.execute()).await,
        Err(e) => Ok(Err(e)),
    };
    result.duration = started.elapsed();
    // Cut off by a second signal (before it completed every session).
    let cut = stops.now.is_cancelled()
        && !matches!(&outcome, Ok(Ok(o)) if o.results.sessions_aborted() == 0);
    match outcome {
        Err(_) => {
            result.verdict = Verdict::Error;
            result.note = Some(format!("did not finish within {limit:?}"));
        }
        Ok(Err(e)) => {
            result.verdict = Verdict::Error;
            result.note = Some(match e {
                RunError::LoginImpossible(why) => format!(
                    "its accounts could not log in ({why}); is --secret the target's secret?"
                ),
                other => other.to_string(),
            });
        }
        Ok(Ok(outcome)) => {
            let results = &outcome.results;
            result.sessions = results.sessions_ok + results.sessions_failed;
            result.sessions_failed = results.sessions_failed;
            let (verdict, difference) = judge(&plan, results);
            result.verdict = verdict;
            result.difference = difference;
            if result.sessions == 0 {
                result.verdict = Verdict::Error;
                result.note = Some("no session ran".into());
            }
            if result.verdict == Verdict::Fail && case.tier == Tier::NonStrict && !rules.strict {
                result.verdict = Verdict::NonStrict;
                result.note = Some(
                    "this rule is a choice of docs/protocol.md, not of the signaling model; --strict fails it"
                        .into(),
                );
            }
            if result.verdict == Verdict::Pass {
                let runs = result.sessions;
                result.negative_checks = plan
                    .negative_checks()
                    .into_iter()
                    .map(|(step, role, waited, times)| NegativeCheck {
                        step,
                        role,
                        waited,
                        times: times.saturating_mul(runs),
                    })
                    .collect();
            }
        }
    }
    // What ran of a case cut off says nothing about the rest of it, unless it failed.
    if cut && !matches!(result.verdict, Verdict::Fail | Verdict::NonStrict) {
        result.verdict = Verdict::Skip;
        result.note = Some("interrupted while it ran (a second signal)".into());
        result.negative_checks.clear();
    }
    (entry, result)
}

/// The verdict from a finished run: the earliest failure, else the first threshold
/// that does not hold, else a pass.
fn judge(plan: &Plan, results: &Results) -> (Verdict, Option<Difference>) {
    let earliest = results
        .failures
        .sorted()
        .into_iter()
        .flat_map(|(kind, entry)| entry.samples.iter().map(move |s| (kind, s)))
        // Failures of one session are recorded together, when it ends: at equal times a
        // failed step comes before what the session's end found (strict leftovers).
        .min_by_key(|(kind, sample)| (sample.at_ms, kind.step == "session"));
    if let Some((kind, sample)) = earliest {
        return (
            Verdict::Fail,
            Some(Difference {
                step: kind.step.clone(),
                role: kind.role.clone(),
                reason: kind.reason.clone(),
                detail: sample.detail.clone(),
                frames: sample.frames.clone(),
            }),
        );
    }
    if !results.failures.is_empty() {
        let (kind, _) = results.failures.sorted()[0];
        return (
            Verdict::Fail,
            Some(Difference {
                step: kind.step.clone(),
                role: kind.role.clone(),
                reason: kind.reason.clone(),
                ..Difference::default()
            }),
        );
    }
    let checks = crate::checks::threshold_checks(plan);
    match crate::metrics::evaluate(&checks, results) {
        Ok(evaluated) => match evaluated.into_iter().find(|r| !r.pass) {
            Some(r) => (
                Verdict::Fail,
                Some(Difference {
                    step: r
                        .check
                        .metric
                        .clone()
                        .unwrap_or_else(|| "thresholds".into()),
                    role: "-".into(),
                    reason: format!(
                        "expected {}, got {}",
                        r.name,
                        r.observed
                            .map_or_else(|| "no measurement".to_string(), |o| o.to_string())
                    ),
                    ..Difference::default()
                }),
            ),
            None => (Verdict::Pass, None),
        },
        Err(e) => (
            Verdict::Error,
            Some(Difference {
                step: "thresholds".into(),
                role: "-".into(),
                reason: e.to_string(),
                ..Difference::default()
            }),
        ),
    }
}
