//! How `sigbench` ends when the world interferes — signals, closed pipes, artifacts that
//! cannot be written, runs that never start — and that a run is driven in-process
//! through the library with its shutdown passed in (issue 10, problems 5–7). Every wait
//! is on an observable event (a request reaching the target, a line on stderr), never a
//! fixed sleep.

mod common;
mod procs;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::rogue::{self, Misbehaviour};
use sigbench::cli::run::{RunArgs, RunPlan, execute};
use sigbench::report::Status;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sigbench-exit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn scenario(dir: &std::path::Path, yaml: &str) -> PathBuf {
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Calls that the silent target never answers: sessions stay in flight until stopped.
const WAITING: &str = r#"
name: waiting
roles: { a: {} }
load: { sessions: 50, concurrency: 2, unresponsive_after: 1h }
steps:
  - name: call
    as: a
    call: { type: 2, account: "nobody", requestId: "${session}" }
    within: 1h
"#;

fn sigbench(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigbench"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// Waits for the process to exit (no polling); its exit code and stderr.
fn wait_exit(child: Child, limit: Duration) -> (Option<i32>, String) {
    let out = procs::wait_child(child, limit)
        .unwrap_or_else(|_| panic!("still running after {limit:?}; killed it"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kill(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn only_json(dir: &std::path::Path) -> serde_json::Value {
    let path = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON report");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Problem 6: SIGTERM (what Kubernetes and `docker stop` send) is Ctrl-C: in-flight
/// sessions get the grace period, the report is written, exit 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_an_interrupted_report_and_exits_130() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let dir = temp("sigterm");
    let path = scenario(&dir, WAITING);
    let url = target.url();
    let reports = dir.join("reports");
    let child = sigbench(&[
        "run",
        path.to_str().unwrap(),
        "--target",
        &url,
        "--quiet",
        "--report-dir",
        reports.to_str().unwrap(),
    ])
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    target.requests_reach(2).await;
    kill(&child, "-TERM");
    let (code, err) =
        tokio::task::spawn_blocking(move || wait_exit(child, Duration::from_secs(30)))
            .await
            .unwrap();
    assert_eq!(code, Some(130), "{err}");
    let report = only_json(&reports);
    assert_eq!(report["meta"]["status"], "interrupted");
    assert_eq!(report["sessions"]["aborted_by"]["interrupt"], 2, "{report}");
}

/// Problem 6: a second signal stops at once (no grace period) and still writes the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_and_still_writes_the_report() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let dir = temp("twice");
    let path = scenario(&dir, WAITING);
    let url = target.url();
    let reports = dir.join("reports");
    let mut child = sigbench(&[
        "run",
        path.to_str().unwrap(),
        "--target",
        &url,
        "--quiet",
        "--report-dir",
        reports.to_str().unwrap(),
    ])
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    target.requests_reach(2).await;
    kill(&child, "-INT");
    let stderr = child.stderr.take().unwrap();
    let child = tokio::task::spawn_blocking(move || {
        // The first signal is acknowledged before the second is sent.
        let mut lines = BufReader::new(stderr).lines();
        let line = lines.next().unwrap().unwrap();
        assert!(line.starts_with("interrupted:"), "{line}");
        kill(&child, "-TERM");
        let started = Instant::now();
        let (code, _) = wait_exit(child, Duration::from_secs(30));
        (code, started.elapsed())
    })
    .await
    .unwrap();
    let (code, took) = child;
    assert_eq!(code, Some(130));
    // The grace period is 5 s; a second signal does not wait for it.
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let report = only_json(&reports);
    assert_eq!(report["sessions"]["aborted"], 2, "{report}");
}

/// `conformance` as `run`: the first signal lets the running case finish (here it would
/// wait minutes for a silent target), the second cuts it off at once; the reports are
/// written and say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_conformance_at_once_and_still_writes_the_reports() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let dir = temp("conformance-twice");
    let url = target.url();
    let reports = dir.join("reports");
    let mut child = sigbench(&[
        "conformance",
        "--target",
        &url,
        "--only",
        "invite-online-200,invite-offline-10201",
        "--jobs",
        "1",
        // Every wait of the case × 100: it cannot end by itself within the test.
        "--timeout-scale",
        "100",
        "--report-dir",
        reports.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    target.requests_reach(1).await;
    kill(&child, "-INT");
    let stderr = child.stderr.take().unwrap();
    let code = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        let line = lines.next().unwrap().unwrap();
        assert!(line.starts_with("interrupted:"), "{line}");
        kill(&child, "-TERM");
        wait_exit(child, Duration::from_secs(30)).0
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130));
    let report = only_json(&reports);
    let cases = report["cases"].as_array().unwrap();
    let note = |name: &str| {
        let case = cases.iter().find(|c| c["name"] == name).unwrap();
        assert_eq!(case["verdict"], "skip", "{case}");
        case["note"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        note("invite-online-200"),
        "interrupted while it ran (a second signal)"
    );
    assert_eq!(note("invite-offline-10201"), "interrupted before it ran");
    let junit = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .any(|p| p.extension().is_some_and(|e| e == "xml"));
    assert!(junit, "the JUnit XML is written too");
}

/// Problem 7: `| head` closes the pipe early; output ends quietly and the exit code is
/// the verdict's, not a panic's 101.
#[test]
fn a_closed_pipe_ends_output_quietly() {
    for args in [
        vec!["conformance", "--list"],
        vec![
            "run",
            "scenarios/call-accept.yaml",
            "--set",
            "load.sessions=5",
            // The exit code is about the pipe: no latency limit that a loaded machine
            // may miss.
            "--set",
            "thresholds={}",
            "--no-html",
        ],
    ] {
        let dir = temp("pipe");
        let mut cmd = sigbench(&args);
        if args[0] == "run" {
            cmd.args(["--report-dir", dir.to_str().unwrap()]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        drop(out); // like `head -1`
        let (code, err) = wait_exit(child, Duration::from_secs(60));
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Problem 5: a report that cannot be written is exit 2 naming it, whatever the verdict.
#[test]
fn an_unwritable_report_is_exit_2_and_named() {
    let dir = temp("unwritable");
    let blocker = dir.join("not-a-folder");
    std::fs::write(&blocker, "a file").unwrap();
    let out = sigbench(&[
        "run",
        "scenarios/call-accept.yaml",
        "--set",
        "load.sessions=2",
        "--quiet",
        "--report-dir",
        blocker.join("reports").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write the JSON report"), "{err}");

    let out = sigbench(&[
        "conformance",
        "--only",
        "P-2.1",
        "--report-dir",
        blocker.join("reports").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write"), "{err}");
}

/// Problem 5: `--junit` is written even for a run that stopped before starting, with why.
#[test]
fn junit_is_written_for_runs_that_never_started() {
    let dir = temp("junit");
    let junit = dir.join("out.xml");
    // An unreachable target (port 1 on loopback refuses).
    let out = sigbench(&[
        "run",
        "scenarios/call-accept.yaml",
        "--target",
        "ws://127.0.0.1:1/",
        "--quiet",
        "--report-dir",
        dir.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let xml = std::fs::read_to_string(&junit).expect("JUnit written");
    assert!(xml.contains("did not run (exit code 3)"), "{xml}");
    assert!(xml.contains("target unreachable"), "{xml}");

    // A scenario error: nothing ran, JUnit still says why.
    let bad = scenario(&dir, "name: bad\nroles: {}\nsteps: []\n");
    let out = sigbench(&[
        "run",
        bad.to_str().unwrap(),
        "--quiet",
        "--junit",
        junit.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("did not run (exit code 2)"), "{xml}");
}

/// The library path from flags to outcome, with the shutdown passed in: a run stopped
/// in-process (no real signal, no sleep) reports its cut-off sessions as interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_stopped_in_process_through_its_shutdown_stream() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let dir = temp("in-process");
    let path = scenario(&dir, WAITING);
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let args = <Cli as clap::Parser>::parse_from([
        "sigbench",
        path.to_str().unwrap(),
        "--target",
        &target.url(),
        "--quiet",
        "--no-html",
        "--report-dir",
        dir.join("reports").to_str().unwrap(),
    ])
    .run;
    let plan = RunPlan::resolve(args).unwrap();
    let (tx, shutdown) = common::test_signals();
    let stopper = async {
        target.requests_reach(2).await;
        tx.send(()).unwrap(); // Ctrl-C
        tx.send(()).unwrap(); // and again: stop now
    };
    let (executed, ()) = tokio::join!(execute(plan, shutdown, |_| {}), stopper);
    assert_eq!(executed.exit_code, 130);
    let report = executed.scenarios[0].report.as_ref().unwrap();
    assert_eq!(report.meta.status, Status::Interrupted);
    assert_eq!(report.sessions.aborted_by.get("interrupt"), Some(&2));
    assert!(executed.scenarios[0].written[0].1.exists());
}
