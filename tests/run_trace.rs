//! Frame traces (`--trace`, `--trace-sessions`) and the closest-candidate explanation of
//! a timed-out await, through the `sigbench` binary against the embedded server.

mod procs;

use procs::{TempDir, call_scenario, sigbench};
use sigbench::report::RunReport;

fn trace_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("the trace file exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each trace line is JSON"))
        .collect()
}

#[test]
fn traced_sessions_have_every_frame_with_time_direction_and_step() {
    let dir = TempDir::new("trace");
    let scenario = dir.write("trace.yaml", &call_scenario("trace-run", 6, false, ""));
    let reports = dir.join("reports");
    let out = sigbench(
        &dir,
        &[
            "run",
            scenario.to_str().unwrap(),
            "--trace-sessions",
            "1,4",
            "--report-dir",
            reports.to_str().unwrap(),
            "--no-html",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let report = out.path_after("report: ");
    let trace = report.with_extension("trace.jsonl");
    assert!(
        out.stdout
            .contains(&format!("trace: {} (", trace.display())),
        "{}",
        out.stdout
    );
    let lines = trace_lines(&trace);
    let sessions: Vec<u64> = lines
        .iter()
        .map(|l| l["session"].as_u64().unwrap())
        .collect();
    assert!(sessions.iter().all(|s| *s == 1 || *s == 4), "{sessions:?}");
    for session in [1, 4] {
        let frames: Vec<&serde_json::Value> =
            lines.iter().filter(|l| l["session"] == session).collect();
        // call → reply, INVITE push to the callee, close → reply (+ the callee's close
        // notification): every frame, in time order, with the step that caused it.
        let summary: Vec<(String, String, String)> = frames
            .iter()
            .map(|l| {
                (
                    l["dir"].as_str().unwrap().to_owned(),
                    l["role"].as_str().unwrap().to_owned(),
                    l["step"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let has = |dir: &str, role: &str, step: &str| {
            summary
                .iter()
                .any(|(d, r, s)| d == dir && r == role && s == step)
        };
        assert!(has("out", "caller", "call"), "{summary:?}");
        assert!(has("in", "caller", "call"), "the reply: {summary:?}");
        assert!(has("in", "callee", "call"), "the INVITE push: {summary:?}");
        assert!(has("out", "caller", "hang up"), "{summary:?}");
        let times: Vec<f64> = frames.iter().map(|l| l["t_ms"].as_f64().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        let invite = frames
            .iter()
            .find(|l| l["dir"] == "in" && l["role"] == "callee")
            .unwrap();
        let text = invite["frame"].as_str().unwrap();
        assert!(text.contains("\"INVITE\""), "the frame as received: {text}");
        assert!(invite["unix_ms"].as_u64().unwrap() > 1_700_000_000_000);
    }
}

#[test]
fn trace_n_samples_n_sessions() {
    let dir = TempDir::new("trace-n");
    let scenario = dir.write("trace.yaml", &call_scenario("trace-n", 10, false, ""));
    let out = sigbench(
        &dir,
        &[
            "run",
            scenario.to_str().unwrap(),
            "--trace",
            "2",
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
            "--no-html",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let lines = trace_lines(&out.path_after("report: ").with_extension("trace.jsonl"));
    let mut sessions: Vec<u64> = lines
        .iter()
        .map(|l| l["session"].as_u64().unwrap())
        .collect();
    sessions.dedup();
    assert_eq!(sessions, [0, 5], "2 of 10 sessions, spread");

    let out = sigbench(
        &dir,
        &["run", "x.yaml", "--trace", "2", "--trace-sessions", "1"],
    );
    assert_eq!(out.code, Some(2), "{}", out.text());
    let out = sigbench(&dir, &["run", "x.yaml", "--trace-sessions", "1,b"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(
        out.stderr.contains("'b' is not a session number"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_timed_out_await_shows_the_closest_push_and_the_field_that_differs() {
    let dir = TempDir::new("closest");
    // The callee awaits an INVITE with a requestId that never comes; the real INVITE (with
    // a long channel name, so the field is far into the frame) is the closest candidate.
    let scenario = dir.write(
        "closest.yaml",
        r#"name: closest
roles:
  caller: {}
  callee: {}
load:
  sessions: 1
  concurrency: 1
steps:
  - name: call
    as: caller
    call: { type: 1, account: "${callee}", requestId: "${session}", channelName: "a-long-channel-name-that-pushes-the-interesting-part-of-the-frame-far-right-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }
    expect: 200
  - name: invite delivered
    as: callee
    await: INVITE
    match: { from: "${caller}", requestId: "not-${session}" }
    within: 300ms
"#,
    );
    let out = sigbench(
        &dir,
        &[
            "run",
            scenario.to_str().unwrap(),
            "--report-dir",
            dir.join("reports").to_str().unwrap(),
            "--no-html",
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.text());
    let report = RunReport::read(&out.path_after("report: ")).unwrap();
    let failure = report
        .failures
        .iter()
        .find(|f| f.step == "invite delivered")
        .expect("the await failed");
    let frames = &failure.samples[0].frames;
    let closest = frames
        .iter()
        .find(|f| f.starts_with("closest buffered INVITE: "))
        .unwrap_or_else(|| panic!("{frames:?}"));
    assert!(
        closest.contains("requestId: wanted \"not-") && closest.contains(", got \""),
        "{closest}"
    );
    assert!(!closest.contains("from:"), "from matched: {closest}");
    let excerpt = frames
        .iter()
        .find(|f| f.starts_with("<- "))
        .unwrap_or_else(|| panic!("{frames:?}"));
    assert!(
        excerpt.contains("\"requestId\"") && excerpt.chars().count() < 160,
        "the excerpt shows the differing field within the summary's width: {excerpt}"
    );
    // The terminal summary shows it too, uncut.
    assert!(out.stdout.contains("requestId: wanted"), "{}", out.stdout);
}
