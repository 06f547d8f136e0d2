//! What the workload tests share: running the binary with a report folder of its own,
//! scenario files in temporary folders, and reading the JSON report.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the binary with a report folder of its own; returns the output and the JSON
/// report (if one was written).
pub fn sigbench(test: &str, args: &[&str]) -> (Output, Option<serde_json::Value>) {
    let reports =
        std::env::temp_dir().join(format!("sigbench-workload-{}-{test}", std::process::id()));
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

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes a file named after the test into a temporary folder of its own.
pub fn write(test: &str, name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sigbench-workload-files-{}-{test}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

pub fn assert_schema(report: &serde_json::Value) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

pub fn flows(report: &serde_json::Value) -> Vec<(String, u64, u64, u64)> {
    report["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["sessions"]["done"].as_u64().unwrap(),
                f["sessions"]["ok"].as_u64().unwrap(),
                f["sessions"]["failed"].as_u64().unwrap(),
            )
        })
        .collect()
}

pub fn threshold<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no threshold '{name}' in {:#}", report["thresholds"]))
}

/// The JSON report [`sigbench`] wrote for `test`.
pub fn report_file(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sigbench-workload-{}-{test}", std::process::id()));
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap_or_else(|| panic!("no report in {}", dir.display()))
}

/// `sigbench merge` of these reports: its output and the merged report.
pub fn merge(test: &str, reports: &[PathBuf]) -> (Output, serde_json::Value) {
    let merged = std::env::temp_dir().join(format!(
        "sigbench-workload-{}-{test}-merged.json",
        std::process::id()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .arg("merge")
        .args(reports)
        .args(["--no-html", "--quiet", "--out"])
        .arg(&merged)
        .output()
        .unwrap();
    let report = serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    (out, report)
}

/// `sigbench check ARGS…` from the crate's folder: the exit code and all output.
pub fn check(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .arg("check")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    (out.status.code(), text(&out))
}

/// The timeline's `target_in_flight` values, where given.
pub fn targets_in_flight(report: &serde_json::Value) -> Vec<u64> {
    report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["target_in_flight"].as_u64())
        .collect()
}
