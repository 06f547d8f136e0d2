//! Distributed runs as a user does them: three `sigbench run --shard i/3` processes
//! against one shared server, then `sigbench merge`. The merge must equal one run of the
//! same scenario in session and code counts, its p99 must be the p99 of the union of the
//! shards' recorded values, its thresholds must be judged on the merged data, and
//! `sigbench report` must re-render the merged HTML byte for byte.

mod procs;

use std::path::{Path, PathBuf};

use procs::{Child, Output, PROCESS_LIMIT, TempDir, call_scenario, sigbench, spawn};
use sigbench::metrics::histogram::{add_into, decode, new_histogram};
use sigbench::report::RunReport;
use sigbench::server::{Auth, ServerConfig, ServerHandle};

const SECRET: &str = "distributed-test-secret";

/// The reference server in this test's own runtime, with login tokens from [`SECRET`].
struct Server {
    runtime: tokio::runtime::Runtime,
    handle: Option<ServerHandle>,
}

impl Server {
    fn start() -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            auth: Auth::Secret(SECRET.to_owned()),
            ..ServerConfig::default()
        };
        let handle = runtime
            .block_on(sigbench::server::spawn(config))
            .expect("the server starts");
        Server {
            runtime,
            handle: Some(handle),
        }
    }

    fn url(&self) -> String {
        self.handle.as_ref().expect("running").url()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.runtime.block_on(handle.shutdown());
        }
    }
}

/// The only JSON report in `dir`.
fn only_report(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the report dir exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(files.len(), 1, "one report in {}", dir.display());
    files.into_iter().next().unwrap()
}

/// Starts `run` of `scenario` against the server as `shard` (or whole), reporting into
/// `dir/<label>`.
fn start_run(
    dir: &TempDir,
    server: &Server,
    scenario: &Path,
    shard: Option<&str>,
    label: &str,
) -> Child {
    let reports = dir.join(label);
    let url = server.url();
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--target",
        &url,
        "--secret",
        SECRET,
        "--quiet",
        "--no-html",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    // A start barrier just ahead: every shard logs in, then starts its sessions then.
    let start = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(1),
    )
    .to_string();
    if let Some(shard) = shard {
        args.extend(["--shard", shard, "--start-at", &start]);
    }
    spawn(dir, &args)
}

/// Runs three shards of `scenario` concurrently; their reports' paths, in shard order.
fn run_shards(dir: &TempDir, server: &Server, scenario: &Path, prefix: &str) -> Vec<PathBuf> {
    let labels: Vec<String> = (1..=3).map(|i| format!("{prefix}-shard-{i}")).collect();
    let children: Vec<Child> = (1..=3)
        .map(|i| {
            let shard = format!("{i}/3");
            start_run(dir, server, scenario, Some(&shard), &labels[i - 1])
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait(PROCESS_LIMIT))
        .collect();
    for (out, label) in outputs.iter().zip(&labels) {
        assert!(
            matches!(out.code, Some(0 | 1)),
            "{label} ran to the end:\n{}",
            out.text()
        );
    }
    labels.iter().map(|l| only_report(&dir.join(l))).collect()
}

fn merge(dir: &TempDir, inputs: &[PathBuf], extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend(extra);
    sigbench(dir, &args)
}

fn read(path: &Path) -> RunReport {
    RunReport::read(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn three_shards_merged_equal_one_run_exactly() {
    let dir = TempDir::new("distributed");
    let server = Server::start();
    let scenario = dir.write(
        "dist.yaml",
        &call_scenario("dist", 60, false, "  call: { p99: 10s }\n  failures: 0\n"),
    );
    let whole = start_run(&dir, &server, &scenario, None, "whole");
    let shards = run_shards(&dir, &server, &scenario, "ok");
    let out = whole.wait(PROCESS_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let whole = read(&only_report(&dir.join("whole")));

    let merged_json = dir.join("merged.json");
    let merged_html = dir.join("merged.html");
    let junit = dir.join("merged.xml");
    let out = merge(
        &dir,
        &shards,
        &[
            "--out",
            merged_json.to_str().unwrap(),
            "--html",
            merged_html.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "every threshold holds:\n{}", out.text());
    assert!(
        out.stdout.contains("dist: 60 sessions, 0 failed"),
        "{}",
        out.text()
    );
    let merged = read(&merged_json);
    let parts: Vec<RunReport> = shards.iter().map(|p| read(p)).collect();

    // Same sessions and codes as one run of the whole scenario.
    assert_eq!(merged.sessions.done, 60);
    assert_eq!(merged.sessions.done, whole.sessions.done);
    assert_eq!(merged.sessions.ok, whole.sessions.ok);
    assert_eq!(merged.codes, whole.codes);
    assert_eq!(merged.failure_count(), whole.failure_count());
    for name in ["call", "invite delivered", "hang up", "session"] {
        let count = |r: &RunReport| r.metrics.iter().find(|m| m.name == name).unwrap().count;
        assert_eq!(count(&merged), count(&whole), "{name}");
    }
    let shard_names: Vec<String> = merged.meta.shards.iter().map(|s| s.to_string()).collect();
    assert_eq!(shard_names, ["1/3", "2/3", "3/3"]);

    // Each metric's merged histogram is the sum of the shards', so its percentiles are
    // those of the union of the recorded values.
    for m in &merged.metrics {
        let mut union = new_histogram();
        for part in &parts {
            let p = part.metrics.iter().find(|p| p.name == m.name).unwrap();
            add_into(&mut union, &decode(&p.histogram).unwrap());
        }
        let mine = decode(&m.histogram).unwrap();
        assert_eq!(mine.len(), union.len(), "{}", m.name);
        assert_eq!(m.count, union.len(), "{}", m.name);
        assert_eq!(m.p99_us, union.value_at_quantile(0.99), "{}", m.name);
        assert_eq!(m.p50_us, union.value_at_quantile(0.5), "{}", m.name);
        assert_eq!(m.max_us, union.max(), "{}", m.name);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(mine.value_at_quantile(q), union.value_at_quantile(q));
        }
    }

    // `report` re-renders the merged page byte for byte, and the JUnit file exists.
    let again = dir.join("again.html");
    let out = sigbench(
        &dir,
        &[
            "report",
            merged_json.to_str().unwrap(),
            "--html",
            again.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let first = std::fs::read_to_string(&merged_html).unwrap();
    assert_eq!(std::fs::read_to_string(&again).unwrap(), first);
    assert!(first.contains("1/3, 2/3, 3/3"), "the page names the shards");
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testsuite name=\"dist\"")
    );

    // Merge judges limits on the merged data, not the shards' verdicts: the same shards
    // with an impossible `call p99` limit (each shard file says it passed) exit 1.
    let strict: Vec<PathBuf> = shards
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let mut r = read(path);
            let t = r
                .thresholds
                .iter_mut()
                .find(|t| t.name.starts_with("call p99"));
            let t = t.expect("the call p99 threshold");
            t.limit = 1.0;
            assert!(t.pass);
            let out = dir.join(&format!("strict-{i}.json"));
            r.write_to(&out).unwrap();
            out
        })
        .collect();
    let out = merge(
        &dir,
        &strict,
        &["--out", dir.join("strict.json").to_str().unwrap()],
    );
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(
        out.stdout.contains("FAIL  call p99 <= 1µs"),
        "{}",
        out.text()
    );
}

#[test]
fn a_threshold_every_shard_passes_can_fail_merged() {
    let dir = TempDir::new("distributed-threshold");
    let server = Server::start();
    // Every hang-up expectation is wrong: 30 failures, 10 per shard; at most 10 allowed.
    let scenario = dir.write(
        "fail.yaml",
        &call_scenario("dist-fail", 30, true, "  failures: 10\n"),
    );
    let shards = run_shards(&dir, &server, &scenario, "fail");
    for path in &shards {
        let r = read(path);
        assert_eq!(r.failure_count(), 10);
        assert!(r.thresholds[0].pass, "each shard is within the limit");
    }
    let merged_json = dir.join("merged.json");
    let out = merge(
        &dir,
        &shards,
        &["--out", merged_json.to_str().unwrap(), "--no-html"],
    );
    assert_eq!(out.code, Some(1), "{}", out.text());
    let merged = read(&merged_json);
    assert_eq!(merged.failure_count(), 30);
    assert!(!merged.thresholds[0].pass);
    assert_eq!(merged.thresholds[0].observed, Some(30.0));
    assert!(!dir.join("merged.html").exists(), "--no-html");

    // Reports that do not belong together are a usage error naming both files.
    let out = merge(&dir, &[shards[0].clone(), shards[0].clone()], &[]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(
        out.stderr.contains("shard 1/3 appears twice"),
        "{}",
        out.text()
    );
    let mut other = read(&shards[1]);
    other.thresholds[0].limit = 11.0;
    let other_path = dir.join("other-thresholds.json");
    other.write_to(&other_path).unwrap();
    let out = merge(&dir, &[shards[0].clone(), other_path.clone()], &[]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(
        out.stderr.contains("different thresholds"),
        "{}",
        out.text()
    );
    assert!(
        out.stderr.contains("other-thresholds.json"),
        "{}",
        out.text()
    );
    let missing = dir.join("missing.json");
    let out = merge(&dir, &[shards[0].clone(), missing], &[]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(out.stderr.contains("missing.json"), "{}", out.text());

    // Issue 10, problem 9: 2 of 3 shards are not a run; merging them is an error naming
    // the missing shard, unless --allow-partial (then the report says so).
    let two = [shards[0].clone(), shards[1].clone()];
    let out = merge(&dir, &two, &["--no-html"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(out.stderr.contains("missing 3/3"), "{}", out.text());
    assert!(out.stderr.contains("--allow-partial"), "{}", out.text());
    let partial = dir.join("partial.json");
    let out = merge(
        &dir,
        &two,
        &[
            "--allow-partial",
            "--no-html",
            "--out",
            partial.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.text());
    let partial = read(&partial);
    assert!(
        partial
            .warnings
            .iter()
            .any(|w| w.contains("merged 2 of 3 shards; missing 3/3")),
        "{:?}",
        partial.warnings
    );
}
