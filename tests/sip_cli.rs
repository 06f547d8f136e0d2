//! `sigbench run` with SIP scenarios as a user runs them: the real binary against
//! Kamailio (started per test by scripts/kamailio) or a scripted bad server, judged by
//! exit code, output and report.

mod procs;
mod sip;

use std::time::Duration;

use procs::{TempDir, sigbench, spawn};
use sip::{BadServer, Kamailio, PASSWORD, answer};

fn run(dir: &TempDir, scenario: &str, target: &str, extra: &[&str]) -> procs::Output {
    let reports = dir.join("reports");
    let mut args = vec![
        "run",
        scenario,
        "--target",
        target,
        "--no-html",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sigbench(dir, &args)
}

#[test]
fn shipped_call_scenarios_pass_against_kamailio() {
    let server = Kamailio::start(&[]);
    let dir = TempDir::new("sip-shipped");
    for scenario in [
        "scenarios/sip/call-accept-hangup.yaml",
        "scenarios/sip/call-cancel-while-ringing.yaml",
        "scenarios/sip/call-reject.yaml",
        "scenarios/sip/call-unregistered.yaml",
    ] {
        let out = run(
            &dir,
            scenario,
            &server.url,
            // Every session must pass; the latency limits are for a quiet machine
            // (docs/sip.md, "The shipped scenarios in CI").
            &[
                "--password",
                PASSWORD,
                "--set",
                "load.sessions=10",
                "--set",
                "thresholds={}",
            ],
        );
        assert_eq!(out.code, Some(0), "{scenario}:\n{}", out.text());
        assert!(
            out.stdout.contains("10 sessions, 0 failed"),
            "{}",
            out.text()
        );
    }
}

type Codes = std::collections::BTreeMap<(String, u64), (u64, String)>;

/// `(op, code) → (count, name)` of a JSON report's codes.
fn codes_of(report: &std::path::Path) -> Codes {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    json["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["op"].as_str().unwrap().to_string(),
                    c["code"].as_u64().unwrap(),
                ),
                (
                    c["count"].as_u64().unwrap(),
                    c["name"].as_str().unwrap_or_default().to_string(),
                ),
            )
        })
        .collect()
}

fn count_of(codes: &Codes, op: &str, code: u64) -> Option<u64> {
    codes.get(&(op.to_string(), code)).map(|c| c.0)
}

#[test]
fn the_report_counts_codes_by_method_and_status() {
    let server = Kamailio::start(&[]);
    let dir = TempDir::new("sip-codes");
    let one_pair = [
        "--password",
        PASSWORD,
        "--set",
        "load.sessions=3",
        "--set",
        "load.concurrency=1",
    ];
    let out = run(
        &dir,
        "scenarios/sip/call-reject.yaml",
        &server.url,
        &one_pair,
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let codes = codes_of(&out.path_after("report: "));
    let count = |op: &str, code: u64| count_of(&codes, op, code);
    let name = |op: &str, code: u64| codes[&(op.to_string(), code)].1.clone();
    // What the callers received through the proxy, and what the callees sent.
    assert_eq!(count("INVITE", 486), Some(3), "{codes:?}");
    assert_eq!(count("INVITE", 603), Some(3), "{codes:?}");
    assert_eq!(count("INVITE (UAS)", 486), Some(3), "{codes:?}");
    assert_eq!(count("INVITE (UAS)", 603), Some(3), "{codes:?}");
    assert_eq!(name("INVITE", 486), "Busy Here");
    assert_eq!(name("INVITE", 603), "Decline");
    // Kamailio's own answers: 100 Trying to every relayed INVITE, the proxy challenge
    // for the first, the registrar's challenge and 200s (registration and un-REGISTER).
    assert_eq!(count("INVITE", 100), Some(6), "{codes:?}");
    assert_eq!(name("INVITE", 407), "Proxy Authentication Required");
    assert_eq!(name("REGISTER", 401), "Unauthorized");
    assert_eq!(count("REGISTER", 200), Some(4), "{codes:?}");
    // Nothing is counted per step any more: one-way steps were never answered.
    assert!(
        codes.keys().all(|(op, _)| op == &op.to_uppercase()),
        "{codes:?}"
    );
    assert!(out.stdout.contains("401 Unauthorized ×"), "{}", out.stdout);
    assert!(out.stdout.contains("486 Busy Here ×3"), "{}", out.stdout);
    assert!(!out.stdout.contains("NOT_LOGGED_IN"), "{}", out.stdout);

    let out = run(
        &dir,
        "scenarios/sip/call-cancel-while-ringing.yaml",
        &server.url,
        &one_pair,
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let codes = codes_of(&out.path_after("report: "));
    for (op, code) in [
        ("INVITE", 180),
        ("INVITE", 487),
        ("CANCEL", 200),
        ("INVITE (UAS)", 180),
        ("CANCEL (UAS)", 200),
        ("INVITE (UAS)", 487),
    ] {
        assert_eq!(
            count_of(&codes, op, code),
            Some(3),
            "{op} {code}: {codes:?}"
        );
    }
}

#[test]
fn a_wrong_expected_status_exits_1() {
    let server = Kamailio::start(&[]);
    let dir = TempDir::new("sip-wrong-status");
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sip/call-reject.yaml"),
    )
    .unwrap()
    .replace("    await: 603\n", "    await: 486\n");
    let path = dir.write("wrong.yaml", &yaml);
    let out = run(
        &dir,
        path.to_str().unwrap(),
        &server.url,
        &[
            "--password",
            PASSWORD,
            "--set",
            "load.sessions=2",
            "--set",
            "load.concurrency=2",
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(
        out.stdout.contains("decline [caller]: no 486 within 5s"),
        "{}",
        out.text()
    );
}

#[test]
fn a_wrong_password_exits_3_naming_the_401() {
    let server = Kamailio::start(&[]);
    let dir = TempDir::new("sip-wrong-password");
    let out = run(
        &dir,
        "scenarios/sip/call-accept-hangup.yaml",
        &server.url,
        &["--password", "not-the-password", "--set", "load.sessions=1"],
    );
    assert_eq!(out.code, Some(3), "{}", out.text());
    assert!(
        out.stderr.contains("answered 401 Unauthorized"),
        "{}",
        out.text()
    );
    assert!(out.stderr.contains("were refused"), "{}", out.text());
}

#[test]
fn without_a_target_it_says_how_to_start_a_sip_server() {
    let dir = TempDir::new("sip-no-target");
    let out = sigbench(&dir, &["run", "scenarios/sip/call-accept-hangup.yaml"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(out.stderr.contains("needs --target"), "{}", out.text());
    assert!(
        out.stderr.contains("scripts/kamailio start"),
        "{}",
        out.text()
    );
}

#[test]
fn traces_show_the_sip_frames_of_the_traced_sessions() {
    let server = Kamailio::start(&[]);
    let dir = TempDir::new("sip-trace");
    let out = run(
        &dir,
        "scenarios/sip/call-accept-hangup.yaml",
        &server.url,
        &[
            "--password",
            PASSWORD,
            "--set",
            "load.sessions=4",
            "--trace-sessions",
            "2",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let trace = out.path_after("report: ").with_extension("trace.jsonl");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&trace)
        .expect("the trace file exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each trace line is JSON"))
        .collect();
    assert!(lines.iter().all(|l| l["session"] == 2), "{lines:?}");
    let find = |dir: &str, role: &str, step: &str, start: &str| {
        lines.iter().find(|l| {
            l["dir"] == dir
                && l["role"] == role
                && l["step"] == step
                && l["frame"].as_str().unwrap().starts_with(start)
        })
    };
    // The frames as they went over the wire, with the step that caused each; the ACK is
    // the driver's own.
    let invite = find("out", "caller", "invite", "INVITE sip:").expect("the INVITE sent");
    // ${session} is the run id and the session number.
    let header = invite["frame"]
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("X-Session: "));
    assert!(header.is_some_and(|h| h.ends_with("-2")), "{invite}");
    assert!(
        find("in", "callee", "invite", "INVITE sip:").is_some(),
        "{lines:?}"
    );
    assert!(
        find("out", "callee", "ring", "SIP/2.0 180").is_some(),
        "{lines:?}"
    );
    assert!(
        find("out", "callee", "answer", "SIP/2.0 200").is_some(),
        "{lines:?}"
    );
    assert!(
        find("out", "caller", "(driver)", "ACK sip:").is_some(),
        "{lines:?}"
    );
    assert!(
        find("out", "caller", "hang up", "BYE sip:").is_some(),
        "{lines:?}"
    );
    assert!(
        find("in", "caller", "hang up", "SIP/2.0 200").is_some(),
        "{lines:?}"
    );
    let times: Vec<f64> = lines.iter().map(|l| l["t_ms"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn kamailio_killed_mid_run_fails_the_run_with_a_report() {
    let server = Kamailio::start(&[]);
    let dir = TempDir::new("sip-killed");
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/sip/call-accept-hangup.yaml"),
    )
    .unwrap()
    .replace("  sessions: 200\n", "  sessions: 100000\n  duration: 20s\n");
    let path = dir.write("long.yaml", &yaml);
    let reports = dir.join("reports");
    let child = spawn(
        &dir,
        &[
            "run",
            path.to_str().unwrap(),
            "--target",
            &server.url,
            "--password",
            PASSWORD,
            "--no-html",
            "--report-dir",
            reports.to_str().unwrap(),
            "--live",
            "/dev/stderr",
        ],
    );
    // Every slot's caller and callee is registered before the first session: kill the
    // server once the live lines say sessions have started.
    child.stderr_line_where("with sessions started", Duration::from_secs(20), |l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|frame| frame["sessions"]["started"].as_u64() > Some(0))
    });
    server.stop();
    let out = child.wait(Duration::from_secs(30));
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(out.text().contains("connection closed"), "{}", out.text());
    let report = out.path_after("report: ");
    assert!(report.exists(), "{}", out.text());
}

/// A server that accepts REGISTER and answers INVITEs with a 180 missing its CSeq.
fn broken_ringing(request: &str) -> Vec<String> {
    if request.starts_with("REGISTER ") {
        return vec![answer(request, "200 OK")];
    }
    if request.starts_with("INVITE ") {
        let ok = answer(request, "180 Ringing");
        let cseq = ok
            .lines()
            .find(|l| l.starts_with("CSeq:"))
            .unwrap()
            .to_string();
        return vec![ok.replace(&format!("{cseq}\r\n"), "")];
    }
    Vec::new()
}

/// A server whose answer to REGISTER has no blank line after its headers.
fn broken_register(request: &str) -> Vec<String> {
    vec![answer(request, "200 OK").replace("\r\n\r\n", "\r\n")]
}

/// Writes `yaml` into `dir` and runs it against `url` (password `pw`) off the runtime;
/// `dir` comes back with the output (the report is in it).
async fn run_written(dir: TempDir, yaml: &str, url: &str) -> (TempDir, procs::Output) {
    let path = dir.write("scenario.yaml", yaml);
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = run(&dir, path.to_str().unwrap(), &url, &["--password", "pw"]);
        (dir, out)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_server_fails_the_session_with_the_message_quoted() {
    let server = BadServer::start(broken_ringing).await;
    let dir = TempDir::new("sip-bad-server");
    let yaml = "name: bad-ringing\ndriver: sip\nroles:\n  caller: {}\nsteps:\n  - name: invite\n    as: caller\n    invite: { to: bob }\n  - name: ringing\n    as: caller\n    await: 180\n    within: 1s\n";
    let (_dir, out) = run_written(dir, yaml, &server.url).await;
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(out.stdout.contains("missing CSeq header"), "{}", out.text());
    assert!(out.stdout.contains("SIP/2.0 180 Ringing"), "{}", out.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_answer_to_register_is_a_failed_login_quoting_it() {
    let server = BadServer::start(broken_register).await;
    let dir = TempDir::new("sip-bad-register");
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(
            &dir,
            "scenarios/sip/call-unregistered.yaml",
            &url,
            &["--password", "pw", "--set", "load.sessions=1"],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.code, Some(3), "{}", out.text());
    assert!(
        out.stderr.contains("no blank line after the headers"),
        "{}",
        out.text()
    );
    assert!(out.stderr.contains("SIP/2.0 200 OK"), "{}", out.text());
}

/// REGISTERs (not un-REGISTERs) answered so far by [`refuses_a_second_register`].
static REGISTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A registrar that accepts the first REGISTER and refuses every later one (403).
fn refuses_a_second_register(request: &str) -> Vec<String> {
    let registers = request.starts_with("REGISTER ") && !request.contains("\r\nExpires: 0\r\n");
    if registers && REGISTERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
        return vec![answer(request, "403 Forbidden")];
    }
    vec![answer(request, "200 OK")]
}

/// A refused re-REGISTER between sessions (the runner reconnects an account a session
/// took down) is a failed login, and its code is in the report's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_of_a_refused_reconnect_reaches_the_report() {
    let server = BadServer::start(refuses_a_second_register).await;
    let dir = TempDir::new("sip-refused-reconnect");
    let yaml = "name: refused-reconnect\ndriver: sip\nroles:\n  caller: {}\n\
                load: { sessions: 2, concurrency: 1 }\nsteps:\n  - { as: caller, disconnect: ~ }\n";
    let (_dir, out) = run_written(dir, yaml, &server.url).await;
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(out.stdout.contains("reconnect failed"), "{}", out.text());
    let codes = codes_of(&out.path_after("report: "));
    // After each of the two sessions.
    assert_eq!(count_of(&codes, "REGISTER", 403), Some(2), "{codes:?}");
    assert_eq!(codes[&("REGISTER".to_string(), 403)].1, "Forbidden");
}
