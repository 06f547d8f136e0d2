//! Every command's exit codes, through the library path `main` takes
//! (`sigbench::cli::command` → `Result<Outcome, CliError>` → `cli::error::exit_code`):
//! one test per command, one assertion per documented error class — bad input, an
//! artifact that cannot be written, a failing verdict, an unreachable target, an
//! interrupt. No process is spawned and no signal sent: shutdown is a stream the test
//! controls.

mod common;
mod procs;

use futures_util::Stream;
use sigbench::cli::command;
use sigbench::cli::error::{CliError, Outcome, exit_code};
use sigbench::server::{Auth, ServerConfig};

use common::rogue::{self, Misbehaviour};
use procs::{TempDir, call_scenario};

/// A shutdown that never comes.
fn no_signal() -> impl Stream<Item = ()> + Send + 'static {
    futures_util::stream::pending()
}

/// Runs `sigbench args…` in-process with no signal; the result and its exit code.
async fn sigbench(args: &[&str]) -> (Result<Outcome, CliError>, u8) {
    let result = command(
        std::iter::once("sigbench").chain(args.iter().copied()),
        no_signal(),
    )
    .await;
    let code = exit_code(&result);
    (result, code)
}

/// The message of the error that made the exit code (for assertions).
fn message(result: &Result<Outcome, CliError>) -> String {
    match result {
        Ok(outcome) => outcome
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => e.to_string(),
    }
}

/// Runs `sigbench args…` in-process; its exit code must be `expected` and its error
/// message must name `needle` (what and where).
async fn exits_with(args: &[&str], expected: u8, needle: &str) {
    let (result, code) = sigbench(args).await;
    let message = message(&result);
    assert_eq!(code, expected, "{message}");
    assert!(message.contains(needle), "{message}");
}

/// A path below a regular file: nothing can be written there.
fn unwritable(dir: &TempDir) -> std::path::PathBuf {
    let blocker = dir.write("a-file", "not a folder");
    blocker.join("out")
}

#[tokio::test]
async fn the_command_line_itself() {
    let (result, code) = sigbench(&["run", "--no-such-flag", "x.yaml"]).await;
    assert_eq!(code, 2, "{}", message(&result));
    assert!(matches!(result, Err(CliError::Clap(_))));
    let (_, code) = sigbench(&["--help"]).await;
    assert_eq!(code, 0, "--help is not an error");
    let (_, code) = sigbench(&[]).await;
    assert_eq!(code, 2, "no command");
}

#[tokio::test]
async fn check() {
    let dir = TempDir::new("codes-check");
    let good = dir.write("good.yaml", &call_scenario("good", 2, false, ""));
    let (_, code) = sigbench(&["check", good.to_str().unwrap()]).await;
    assert_eq!(code, 0);
    let bad = dir.write("bad.yaml", "name: bad\nroles: {}\nsteps: []\n");
    exits_with(&["check", bad.to_str().unwrap()], 2, "bad.yaml").await;
    let (_, code) = sigbench(&["check", dir.join("missing.yaml").to_str().unwrap()]).await;
    assert_eq!(code, 2, "an unreadable scenario file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run() {
    let dir = TempDir::new("codes-run");
    let reports = dir.join("reports");
    let reports = reports.to_str().unwrap();
    let good = dir.write("good.yaml", &call_scenario("good", 4, false, ""));
    let good = good.to_str().unwrap();
    let (result, code) = sigbench(&["run", good, "--quiet", "--report-dir", reports]).await;
    assert_eq!(code, 0, "{}", message(&result));

    let wrong = dir.write("wrong.yaml", &call_scenario("wrong", 4, true, ""));
    let (result, code) = sigbench(&[
        "run",
        wrong.to_str().unwrap(),
        "--quiet",
        "--report-dir",
        reports,
    ])
    .await;
    assert_eq!(code, 1, "a failed expectation: {}", message(&result));

    let bad = dir.write("bad.yaml", "name: bad\nroles: {}\nsteps: []\n");
    let (result, code) = sigbench(&["run", bad.to_str().unwrap(), "--quiet"]).await;
    assert_eq!(code, 2, "{}", message(&result));
    assert!(matches!(result, Err(CliError::Scenarios(_))));

    let blocked = unwritable(&dir);
    let (result, code) = sigbench(&[
        "run",
        good,
        "--quiet",
        "--report-dir",
        blocked.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2, "an unwritable report");
    // The scenario's own errors are printed as it ends; the verdict carries them.
    assert!(result.is_ok());

    let (result, code) = sigbench(&[
        "run",
        good,
        "--quiet",
        "--report-dir",
        reports,
        "--junit",
        blocked.join("junit.xml").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2, "an unwritable JUnit file");
    assert!(
        message(&result).contains("cannot write the JUnit XML"),
        "{}",
        message(&result)
    );

    let (result, code) = sigbench(&[
        "run",
        good,
        "--quiet",
        "--report-dir",
        reports,
        "--target",
        "ws://127.0.0.1:1/",
    ])
    .await;
    assert_eq!(code, 3, "unreachable: {}", message(&result));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_interrupted() {
    let target = rogue::start(Misbehaviour::Silent).await;
    let dir = TempDir::new("codes-run-int");
    let scenario = dir.write(
        "waiting.yaml",
        "name: waiting\nroles: { a: {} }\nload: { sessions: 10, concurrency: 2, unresponsive_after: 1h }\n\
         steps:\n  - name: call\n    as: a\n    call: { type: 2, account: nobody, requestId: \"${session}\" }\n    within: 1h\n",
    );
    let url = target.url();
    let reports = dir.join("reports");
    let args = [
        "sigbench",
        "run",
        scenario.to_str().unwrap(),
        "--target",
        &url,
        "--quiet",
        "--no-html",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    let (tx, shutdown) = common::test_signals();
    let stopper = async {
        target.requests_reach(2).await;
        tx.send(()).unwrap();
        tx.send(()).unwrap();
    };
    let (result, ()) = tokio::join!(command(args, shutdown), stopper);
    assert_eq!(exit_code(&result), 130, "{}", message(&result));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let dir = TempDir::new("codes-conformance");
    let reports = dir.join("reports");
    let reports = reports.to_str().unwrap();
    let (result, code) =
        sigbench(&["conformance", "--only", "P-2.1", "--report-dir", reports]).await;
    assert_eq!(code, 0, "{}", message(&result));
    let (_, code) = sigbench(&["conformance", "--list", "--only", "P-7.*"]).await;
    assert_eq!(code, 0);

    // Bad input: 2, naming what.
    let (result, code) = sigbench(&[
        "conformance",
        "--only",
        "no-such-case",
        "--report-dir",
        reports,
    ])
    .await;
    assert_eq!(code, 2);
    assert!(message(&result).contains("selects no case"));
    let (_, code) = sigbench(&["conformance", "--list", "--only", "no-such-case"]).await;
    assert_eq!(code, 2);
    let missing = dir.join("deviations.yaml");
    exits_with(
        &[
            "conformance",
            "--expect-file",
            missing.to_str().unwrap(),
            "--report-dir",
            reports,
        ],
        2,
        "deviations.yaml",
    )
    .await;
    let broken = dir.write("broken.yaml", "- case: [unclosed\n");
    exits_with(
        &[
            "conformance",
            "--expect-file",
            broken.to_str().unwrap(),
            "--report-dir",
            reports,
        ],
        2,
        "broken.yaml",
    )
    .await;
    exits_with(
        &[
            "conformance",
            "--target",
            "wss://127.0.0.1:1/",
            "--ca-cert",
            dir.join("missing.pem").to_str().unwrap(),
        ],
        2,
        "--ca-cert",
    )
    .await;

    // Unreachable: 3.
    let (result, code) = sigbench(&[
        "conformance",
        "--target",
        "ws://127.0.0.1:1/",
        "--report-dir",
        reports,
    ])
    .await;
    assert_eq!(code, 3, "{}", message(&result));

    // Reports that cannot be written: 2, and the one that can is still written.
    let blocked = unwritable(&dir);
    let junit = dir.join("elsewhere/conformance.xml");
    exits_with(
        &[
            "conformance",
            "--only",
            "P-2.1",
            "--report-dir",
            blocked.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        2,
        "cannot write the conformance report",
    )
    .await;
    assert!(junit.exists(), "the JUnit XML is written all the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_failing_and_interrupted() {
    // A failing case: the target is said to have a member limit of 3, but has 100.
    let secret = "codes-conformance";
    let server = sigbench::server::spawn(ServerConfig {
        auth: Auth::Secret(secret.into()),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let url = server.url();
    let dir = TempDir::new("codes-conformance-fail");
    let reports = dir.join("reports");
    let reports = reports.to_str().unwrap();
    let (result, code) = sigbench(&[
        "conformance",
        "--target",
        &url,
        "--secret",
        secret,
        "--max-members",
        "3",
        "--only",
        "join-full-channel-10419",
        "--report-dir",
        reports,
    ])
    .await;
    assert_eq!(code, 1, "{}", message(&result));
    // With the report unwritable as well, 2 wins.
    let blocked = unwritable(&dir);
    let (_, code) = sigbench(&[
        "conformance",
        "--target",
        &url,
        "--secret",
        secret,
        "--max-members",
        "3",
        "--only",
        "join-full-channel-10419",
        "--report-dir",
        blocked.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2);
    server.shutdown().await;

    // Interrupted once a case's request reached a silent target: 130, reports written.
    let target = rogue::start(Misbehaviour::Silent).await;
    let url = target.url();
    let args = [
        "sigbench",
        "conformance",
        "--target",
        &url,
        "--only",
        "invite-online-200",
        "--report-dir",
        reports,
    ];
    let (tx, shutdown) = common::test_signals();
    let stopper = async {
        target.requests_reach(1).await;
        tx.send(()).unwrap();
    };
    let (result, ()) = tokio::join!(command(args, shutdown), stopper);
    assert_eq!(exit_code(&result), 130, "{}", message(&result));
}

/// Runs shard `i` of 2 of `scenario` in-process; returns its JSON report.
async fn shard(
    scenario: &std::path::Path,
    i: u32,
    reports: &std::path::Path,
) -> std::path::PathBuf {
    let dir = reports.join(format!("shard-{i}"));
    let shard = format!("{i}/2");
    let (result, _) = sigbench(&[
        "run",
        scenario.to_str().unwrap(),
        "--shard",
        &shard,
        "--shard-verdict-in-report",
        "--quiet",
        "--no-html",
        "--report-dir",
        dir.to_str().unwrap(),
    ])
    .await;
    assert_eq!(exit_code(&result), 0, "{}", message(&result));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a shard report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge() {
    let dir = TempDir::new("codes-merge");
    let good = dir.write("good.yaml", &call_scenario("good", 4, false, ""));
    let one = shard(&good, 1, dir.path()).await;
    let two = shard(&good, 2, dir.path()).await;
    let (one, two) = (one.to_str().unwrap(), two.to_str().unwrap());
    let out = dir.join("merged.json");
    let out = out.to_str().unwrap();
    let (result, code) = sigbench(&["merge", one, two, "--out", out, "--quiet"]).await;
    assert_eq!(code, 0, "{}", message(&result));

    // Bad input: a missing shard, an unreadable or damaged report, reports that do not
    // belong together.
    exits_with(
        &["merge", one, "--out", out, "--quiet"],
        2,
        "--allow-partial",
    )
    .await;
    let (_, code) = sigbench(&["merge", one, "--out", out, "--quiet", "--allow-partial"]).await;
    assert_eq!(code, 0);
    let missing = dir.join("missing.json");
    exits_with(
        &["merge", one, missing.to_str().unwrap(), "--quiet"],
        2,
        "missing.json",
    )
    .await;
    let broken = dir.write("broken.json", "{\"format\": \"sigbench-report/1\"}");
    exits_with(
        &["merge", one, broken.to_str().unwrap(), "--quiet"],
        2,
        "broken.json",
    )
    .await;
    let (_, code) = sigbench(&["merge", one, one, "--quiet"]).await;
    assert_eq!(code, 2, "a shard twice");

    // Outputs that cannot be written: 2.
    let blocked = unwritable(&dir);
    exits_with(
        &[
            "merge",
            one,
            two,
            "--out",
            blocked.join("m.json").to_str().unwrap(),
        ],
        2,
        "cannot write the merged report",
    )
    .await;
    let (result, code) = sigbench(&[
        "merge",
        one,
        two,
        "--out",
        out,
        "--quiet",
        "--html",
        blocked.join("m.html").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2);
    assert!(message(&result).contains("cannot write the HTML report"));
    let (_, code) = sigbench(&[
        "merge",
        one,
        two,
        "--out",
        out,
        "--quiet",
        "--junit",
        blocked.join("m.xml").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2);

    // The merged verdict: 1 when it failed (each shard exited 0), 130 when a shard was
    // interrupted.
    let wrong = dir.write("wrong.yaml", &call_scenario("wrong", 4, true, ""));
    let bad_dir = TempDir::new("codes-merge-wrong");
    let w1 = shard(&wrong, 1, bad_dir.path()).await;
    let w2 = shard(&wrong, 2, bad_dir.path()).await;
    let (result, code) = sigbench(&[
        "merge",
        w1.to_str().unwrap(),
        w2.to_str().unwrap(),
        "--out",
        out,
        "--quiet",
    ])
    .await;
    assert_eq!(code, 1, "{}", message(&result));
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(two).unwrap()).unwrap();
    report["meta"]["interrupted"] = true.into();
    let interrupted = dir.write("interrupted.json", &report.to_string());
    let (_, code) = sigbench(&[
        "merge",
        one,
        interrupted.to_str().unwrap(),
        "--out",
        out,
        "--quiet",
    ])
    .await;
    assert_eq!(code, 130);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report() {
    let dir = TempDir::new("codes-report");
    let wrong = dir.write("wrong.yaml", &call_scenario("wrong", 4, true, ""));
    let json = shard(&wrong, 1, dir.path()).await;
    let json = json.to_str().unwrap();
    let html = dir.join("page.html");
    let (result, code) =
        sigbench(&["report", json, "--html", html.to_str().unwrap(), "--quiet"]).await;
    assert_eq!(
        code,
        0,
        "rendering a failed run's report is a success: {}",
        message(&result)
    );
    assert!(html.exists());

    let missing = dir.join("missing.json");
    let (result, code) = sigbench(&["report", missing.to_str().unwrap()]).await;
    assert_eq!(code, 2);
    assert!(message(&result).contains("missing.json"));
    let broken = dir.write("broken.json", "[1, 2");
    let (result, code) = sigbench(&["report", broken.to_str().unwrap()]).await;
    assert_eq!(code, 2);
    assert!(message(&result).contains("broken.json"));

    let blocked = unwritable(&dir);
    let (result, code) = sigbench(&[
        "report",
        json,
        "--quiet",
        "--html",
        blocked.join("r.html").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2);
    assert!(message(&result).contains("cannot write the HTML report"));
    let (result, code) = sigbench(&[
        "report",
        json,
        "--quiet",
        "--html",
        html.to_str().unwrap(),
        "--junit",
        blocked.join("r.xml").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2);
    assert!(message(&result).contains("cannot write the JUnit XML"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve() {
    let (result, code) = sigbench(&["serve", "--listen", "127.0.0.1:0"]).await;
    assert_eq!(code, 2, "no secret");
    assert!(message(&result).contains("--secret"));

    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (result, code) = sigbench(&["serve", "--open", "--listen", &addr]).await;
    assert_eq!(code, 2, "the address is taken");
    assert!(
        message(&result).contains("cannot listen on"),
        "{}",
        message(&result)
    );

    // Stopped by its shutdown stream: 0.
    let args = ["sigbench", "serve", "--open", "--listen", "127.0.0.1:0"];
    let result = command(args, futures_util::stream::once(async {})).await;
    assert_eq!(exit_code(&result), 0, "{}", message(&result));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare() {
    let dir = TempDir::new("codes-compare");
    let good = dir.write("good.yaml", &call_scenario("good", 4, false, ""));
    let json = shard(&good, 1, dir.path()).await;
    let json = json.to_str().unwrap();
    let (result, code) =
        sigbench(&["compare", json, json, "--max-regression", "call.p99=10%"]).await;
    assert_eq!(code, 0, "a report against itself: {}", message(&result));
    let (result, code) = sigbench(&["compare", json, json, "--max-regression", "call.p99"]).await;
    assert_eq!(code, 2, "a bound without a limit: {}", message(&result));
    let missing = dir.join("missing.json");
    let (result, code) = sigbench(&["compare", json, missing.to_str().unwrap()]).await;
    assert_eq!(code, 2);
    assert!(message(&result).contains("missing.json"));
    let blocked = unwritable(&dir);
    let (result, code) = sigbench(&[
        "compare",
        json,
        json,
        "--quiet",
        "--html",
        blocked.join("c.html").to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, 2);
    assert!(message(&result).contains("cannot write the HTML comparison"));
}
