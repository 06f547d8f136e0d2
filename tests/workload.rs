//! Workload modelling as a load tester uses it from the command line: the load
//! shorthands (`--sessions`, `--concurrency`, `--rate`, `--duration`), feeders and
//! generators, and early stop. The real binary against the embedded server, judged by
//! exit code, output and JSON report.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the binary with a report folder of its own; returns the output and the JSON
/// report (if one was written).
fn sigbench(test: &str, args: &[&str]) -> (Output, Option<serde_json::Value>) {
    let reports = std::env::temp_dir().join(format!(
        "sigbench-workload-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&reports);
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .args(args)
        .arg("--report-dir")
        .arg(&reports)
        .arg("--no-html")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    let report = std::fs::read_dir(&reports).ok().and_then(|entries| {
        entries
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
    });
    (out, report)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes a file named after the test into a temporary folder of its own.
fn write(test: &str, name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sigbench-workload-files-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn help_lists_the_load_shorthands() {
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = text(&out);
    for flag in ["--sessions <N>", "--concurrency <N>", "--rate <RATE>", "--duration <DURATION>"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn sessions_and_concurrency_flags_replace_the_scenario_load() {
    let (out, report) = sigbench(
        "sessions-flag",
        &["run", "scenarios/call-reject.yaml", "--sessions", "7", "--concurrency", "3", "--quiet"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(report["sessions"]["ok"], 7, "{report:#}");
    assert!(
        report["meta"]["load"].as_str().unwrap().contains("concurrency 3"),
        "{}",
        report["meta"]["load"]
    );
}

#[test]
fn rate_and_duration_flags_make_a_constant_arrival_rate() {
    let (out, report) = sigbench(
        "rate-flag",
        &["run", "scenarios/call-reject.yaml", "--rate", "20/s", "--duration", "500ms", "--quiet"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = report.expect("a report");
    assert_eq!(report["sessions"]["ok"], 10, "{report:#}");
    assert!(report["meta"]["load"].as_str().unwrap().starts_with("open"), "{}", report["meta"]["load"]);
}

#[test]
fn a_shorthand_that_does_not_fit_the_model_is_a_usage_error() {
    let (out, report) = sigbench(
        "bad-shorthand",
        &["run", "scenarios/load/open-rate.yaml", "--sessions", "5"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("open-rate.yaml") && all.contains("--sessions sets the closed model"), "{all}");
    assert!(report.is_none());
    let (out, _) = sigbench("bad-rate", &["run", "scenarios/call-reject.yaml", "--rate", "fast"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("expected a rate like 100/s"), "{all}");
}
