//! `sigbench conformance`: runs the built-in conformance suite against a target (the
//! embedded reference server by default) and prints one line per case, the first
//! difference of each failure, and `conformance: N/M cases pass` last. Exit codes
//! ([`super::error`]): 0 nothing failed, 1 a case failed or could not run, 2 usage error
//! or a report that could not be written, 3 target unreachable, 130 interrupted.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::error::{CliError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, Outcome};
use super::out;
use super::units::{parse_duration, parse_rate, parse_size};
use crate::conformance::{
    self, CaseResult, ConformanceError, Deviations, Options, TargetSettings, TargetSpec, Verdict,
    catalog, junit, report,
};
use crate::server::ServerConfig;

#[derive(Args, Debug)]
pub struct ConformanceArgs {
    /// Server to test (ws://host:port/ or wss://…). Without it, the reference server runs in-process.
    #[arg(long)]
    pub target: Option<String>,
    /// Extra CA certificate (PEM) to trust for a wss:// target.
    #[arg(long, value_name = "FILE.pem", requires = "target")]
    pub ca_cert: Option<PathBuf>,
    /// Secret the target derives login tokens from (HMAC-SHA256 of the account); leave it
    /// out for a target in open mode.
    #[arg(long, env = "SIGBENCH_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Run only the cases whose rule id or name matches one of these patterns
    /// (comma-separated or repeated; `*` and `?` wildcards), e.g. P-6.*,invite-*.
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub only: Vec<String>,
    /// The target's invite TTL. Expiry cases run only when it is known (the embedded
    /// server uses 2s); give the target a short one, e.g. 2s.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub invite_ttl: Option<Duration>,
    /// The target's channel TTL (the embedded server uses 3s); expiry cases need it.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub channel_ttl: Option<Duration>,
    /// The remote target's member limit: the 10419 cases fill a channel to it
    /// (call-full-rolls-back runs only at 1).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub max_members: u64,
    /// The remote target's offline store cap: the cap case stores one event more.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max_offline: u64,
    /// The remote target's message size limit.
    #[arg(long, default_value = "64KiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_frame: usize,
    /// The remote target's per-connection rate limit (the rate cases need 10/s).
    #[arg(long, value_parser = parse_rate, value_name = "N/s")]
    pub rate_limit: Option<u32>,
    /// Median time allowed for an answer; raise it for a distant target.
    #[arg(long, default_value = "30ms", value_parser = parse_duration, value_name = "DURATION")]
    pub response_budget: Duration,
    /// Expected deviations: YAML list of {case or spec, reason}. Listed failures are
    /// reported XFAIL and do not fail the run; listed passes are reported XPASS.
    #[arg(long, value_name = "FILE.yaml")]
    pub expect_file: Option<PathBuf>,
    /// Folder for the JSON report (and the JUnit XML unless --junit is given).
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,
    /// Where to write the JUnit XML (default: in --report-dir).
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Cases run at once.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub jobs: usize,
    /// Speak to the target through this wire profile (docs/profiles.md). Without
    /// --target, the embedded server speaks the framing the profile is named after.
    /// Cases about the built-in framing are skipped unless the profile is that framing.
    #[arg(long, value_name = "PROFILE.yaml")]
    pub profile: Option<PathBuf>,
    /// Multiply every wait, quiet window and eventually-deadline of the suite by F
    /// (e.g. 3 for a slow or distant server, or one whose presence lags).
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale, value_name = "F")]
    pub timeout_scale: f64,
    /// Fail the cases whose rule is a choice of docs/protocol.md (NON-STRICT otherwise).
    #[arg(long)]
    pub strict: bool,
    /// List the cases (rule, name, description, needs) and exit.
    #[arg(long)]
    pub list: bool,
    /// With --list: print the Markdown table that docs/conformance.md embeds.
    #[arg(long, requires = "list")]
    pub markdown: bool,
}

impl ConformanceArgs {
    fn settings(&self) -> TargetSettings {
        TargetSettings {
            invite_ttl: self.invite_ttl,
            channel_ttl: self.channel_ttl,
            response_budget: self.response_budget,
            max_members: self.max_members,
            max_offline: self.max_offline,
            max_frame: self.max_frame as u64,
            rate_limit: self.rate_limit.map(u64::from),
        }
    }

    /// Count flags describe a remote target; the embedded server is configured per case.
    fn ignored_for_embedded(&self) -> Vec<&'static str> {
        let defaults = TargetSettings::default();
        let mut ignored = Vec::new();
        if self.max_members != defaults.max_members {
            ignored.push("--max-members");
        }
        if self.max_offline != defaults.max_offline {
            ignored.push("--max-offline");
        }
        if self.max_frame as u64 != defaults.max_frame {
            ignored.push("--max-frame");
        }
        if self.rate_limit.is_some() {
            ignored.push("--rate-limit");
        }
        ignored
    }
}

/// `--timeout-scale`: a positive, finite factor.
fn parse_scale(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 && f <= 1000.0 => Ok(f),
        _ => Err(format!(
            "invalid factor '{text}': a number above 0 and at most 1000, e.g. 2 or 0.5"
        )),
    }
}

impl From<ConformanceError> for CliError {
    fn from(e: ConformanceError) -> CliError {
        match e {
            ConformanceError::Unreachable(_) => CliError::Target(e.to_string()),
            ConformanceError::NothingSelected(_) | ConformanceError::Usage(_) => {
                CliError::Usage(e.to_string())
            }
            // The suite compiled into this binary is broken: a bug of the harness.
            ConformanceError::Suite(_) => CliError::Other(e.into()),
        }
    }
}

/// `sigbench conformance`: runs the suite until done or `shutdown` yields (no new cases
/// then; the running ones finish and the reports are written). A second item stops the
/// running cases at once, as `run` does.
pub async fn run(
    args: ConformanceArgs,
    shutdown: impl Stream<Item = ()> + Send + 'static,
) -> Result<Outcome, CliError> {
    let mut settings = args.settings();
    if args.target.is_none() {
        // The embedded server runs at the protocol's defaults (count flags describe a
        // remote target; see `ignored_for_embedded`).
        let defaults = TargetSettings::default();
        settings.max_members = defaults.max_members;
        settings.max_offline = defaults.max_offline;
        settings.max_frame = defaults.max_frame;
        settings.rate_limit = None;
    }
    let listed = catalog::load(&settings.clone().for_embedded().values())?;
    if args.list {
        return print_list(&listed, &args.only, args.markdown);
    }
    let deviations = match &args.expect_file {
        Some(path) => Deviations::read(path).map_err(|e| CliError::Usage(e.to_string()))?,
        None => Deviations::default(),
    };
    for label in deviations.unmatched(&listed) {
        eprintln!(
            "warning: {}: '{label}' matches no case of the suite",
            deviations.source
        );
    }
    let profile = super::read_profile(args.profile.as_deref())?;
    let target = match &args.target {
        Some(url) => TargetSpec::Remote {
            url: url.clone(),
            secret: args.secret.clone(),
            ca_cert: super::read_ca_cert(args.ca_cert.as_deref()).map_err(CliError::Usage)?,
        },
        None => {
            for flag in args.ignored_for_embedded() {
                eprintln!(
                    "warning: {flag} describes a remote --target; the embedded server is configured per case"
                );
            }
            let wire = super::embedded_wire(profile.as_ref()).map_err(CliError::Usage)?;
            TargetSpec::Embedded {
                base: ServerConfig {
                    wire,
                    ..ServerConfig::default()
                },
            }
        }
    };
    let interrupt = CancellationToken::new();
    let stop_now = CancellationToken::new();
    let watcher = {
        let (interrupt, stop_now) = (interrupt.clone(), stop_now.clone());
        tokio::spawn(async move {
            // SIGINT or SIGTERM: no new cases, the running ones finish, reports are
            // written; a second one cuts the running cases off.
            let mut shutdown = std::pin::pin!(shutdown);
            if shutdown.next().await.is_some() {
                interrupt.cancel();
                if shutdown.next().await.is_some() {
                    stop_now.cancel();
                }
            }
        })
    };
    let options = Options {
        target,
        settings,
        only: args.only.clone(),
        jobs: args.jobs,
        deviations,
        interrupt: interrupt.clone(),
        stop_now,
        profile,
        timeout_scale: args.timeout_scale,
        strict: args.strict,
    };
    let outcome = conformance::run(options, print_case).await;
    watcher.abort();
    let outcome = outcome?;
    let stem = report::file_stem(&outcome);
    // A report that cannot be written does not stop the other one; either makes the
    // exit code 2, whatever the verdict.
    let mut errors = Vec::new();
    let unwritten = |what, e: report::Unwritten| CliError::Artifact {
        what,
        path: e.path.display().to_string(),
        why: e.why,
    };
    match report::write_new(&args.report_dir, &stem, "json", &report::to_json(&outcome)) {
        Ok(path) => out!("report: {}", path.display()),
        Err(e) => errors.push(unwritten("conformance report", e)),
    }
    let xml = junit::to_xml(&outcome);
    let written = match &args.junit {
        Some(path) => report::write_at(path, &xml),
        None => report::write_new(&args.report_dir, &stem, "xml", &xml),
    };
    match written {
        Ok(path) => out!("junit: {}", path.display()),
        Err(e) => errors.push(unwritten("JUnit XML", e)),
    }
    out!("{}", outcome.counts().summary_line());
    let verdict = if interrupt.is_cancelled() {
        EXIT_INTERRUPTED
    } else if outcome.ok() {
        EXIT_PASSED
    } else {
        EXIT_FAILED
    };
    Ok(Outcome { verdict, errors })
}

/// `PASS   P-6.1   invite-online`, with the first difference under a failure.
fn print_case(case: &CaseResult) {
    out!("{}", case_line(case));
    for line in case_details(case) {
        out!("        {line}");
    }
}

/// The one line of a case.
pub fn case_line(case: &CaseResult) -> String {
    let mut line = format!(
        "{:<5}  {:<6}  {}",
        case.verdict.label(),
        case.spec,
        case.name
    );
    if matches!(
        case.verdict,
        Verdict::Skip | Verdict::Xfail | Verdict::Xpass | Verdict::Error | Verdict::NonStrict
    ) && let Some(note) = &case.note
    {
        line.push_str(&format!("  ({note})"));
    }
    line
}

/// The lines under a failed case: the step, expected vs received, the frames.
pub fn case_details(case: &CaseResult) -> Vec<String> {
    if !matches!(
        case.verdict,
        Verdict::Fail | Verdict::Error | Verdict::NonStrict
    ) {
        return Vec::new();
    }
    let Some(d) = &case.difference else {
        return Vec::new();
    };
    let mut lines = vec![format!("step '{}' [{}]: {}", d.step, d.role, d.reason)];
    if !d.detail.is_empty() && d.detail != d.reason {
        lines.push(d.detail.clone());
    }
    lines.extend(d.frames.iter().cloned());
    if case.sessions > 1 {
        lines.push(format!(
            "{} of {} sessions failed",
            case.sessions_failed, case.sessions
        ));
    }
    lines
}

fn print_list(
    entries: &[catalog::CatalogEntry],
    only: &[String],
    markdown: bool,
) -> Result<Outcome, CliError> {
    let chosen = catalog::select(entries.to_vec(), only)?;
    if markdown {
        let table = catalog::markdown_table(&chosen);
        out!("{}", table.trim_end_matches('\n'));
        return Ok(Outcome::verdict(EXIT_PASSED));
    }
    for e in &chosen {
        let needs: Vec<String> = e.case.requires.iter().map(ToString::to_string).collect();
        let needs = if needs.is_empty() {
            String::new()
        } else {
            format!("  [needs {}]", needs.join(", "))
        };
        let tier = match e.case.tier {
            crate::scenario::Tier::Strict => "",
            crate::scenario::Tier::NonStrict => "  [non-strict]",
        };
        out!(
            "{:<6}  {:<40}  {}{needs}{tier}",
            e.case.spec,
            e.case.name,
            e.case.description
        );
    }
    out!("{} cases", chosen.len());
    Ok(Outcome::verdict(EXIT_PASSED))
}
