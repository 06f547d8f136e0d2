//! Every shipped scenario through each shipped wire profile, against the embedded
//! reference server speaking that framing: the same verdicts as through the native
//! driver (every session passes, no failures, every non-latency threshold holds). Load
//! scenarios are shortened with `--set`; latency and rate thresholds are not judged (a
//! debug build on a busy machine may miss them; performance is measured by
//! scripts/bench).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Runs `files` in one `sigbench run` (through `profile`, if any) and returns each
/// scenario's verdict: `(file stem, sessions done, what failed)`.
fn run(profile: Option<&str>, files: &[PathBuf], sets: &[&str]) -> Vec<(String, u64, Vec<String>)> {
    let reports = std::env::temp_dir().join(format!(
        "sigbench-profile-scenarios-{}-{}-{}",
        std::process::id(),
        profile.unwrap_or("native"),
        files[0].file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&reports);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigbench"));
    cmd.arg("run").args(files).arg("--quiet").arg("--no-html");
    for set in sets {
        cmd.args(["--set", set]);
    }
    if let Some(p) = profile {
        cmd.args(["--profile", &format!("profiles/{p}.yaml")]);
    }
    let out = cmd
        .arg("--report-dir")
        .arg(&reports)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{profile:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut verdicts = Vec::new();
    for file in files {
        let stem = Value::String(file.file_stem().unwrap().to_string_lossy().into_owned());
        let report = std::fs::read_dir(&reports)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap())
            .find(|r| r["meta"]["scenario"] == stem)
            .unwrap_or_else(|| panic!("{profile:?}: no report for {stem}"));
        let mut failed: Vec<String> = report["failures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} [{}]: {} {}",
                    f["step"], f["role"], f["reason"], f["samples"]
                )
            })
            .collect();
        failed.extend(
            report["thresholds"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["pass"] == false && t["unit"] != "us" && t["unit"] != "per_s")
                .map(|t| format!("threshold {}", t["name"])),
        );
        let done = report["sessions"]["done"].as_u64().unwrap();
        verdicts.push((stem.as_str().unwrap().to_string(), done, failed));
    }
    verdicts
}

/// All scenarios of one kind, natively and through every profile.
fn same_verdicts_everywhere(files: &[PathBuf], sets: &[&str]) {
    let native = run(None, files, sets);
    for (name, done, failed) in &native {
        assert!(*done > 0, "{name}: no session ran");
        assert_eq!(failed, &Vec::<String>::new(), "native {name}");
    }
    for profile in ["sigbench", "jsonrpc", "protoo"] {
        let through = run(Some(profile), files, sets);
        assert_eq!(through, native, "through profiles/{profile}.yaml");
    }
}

#[test]
fn flow_scenarios_through_every_profile() {
    same_verdicts_everywhere(&yaml_files("scenarios"), &["load.sessions=10"]);
}

#[test]
fn load_scenarios_through_every_profile() {
    let load = yaml_files("scenarios/load");
    let pick = |stem: &str| -> Vec<PathBuf> {
        load.iter()
            .filter(|p| p.file_stem().unwrap() == stem)
            .cloned()
            .collect()
    };
    same_verdicts_everywhere(
        &pick("closed-max"),
        &["load.sessions=40", "load.concurrency=10"],
    );
    same_verdicts_everywhere(
        &pick("idle-hold"),
        &[
            "load.sessions=20",
            "load.concurrency=20",
            "steps.0.pause=50ms",
        ],
    );
    let mut open = pick("open-rate");
    open.extend(pick("open-soak"));
    same_verdicts_everywhere(
        &open,
        &[
            "load.arrival=[{hold: 20/s, for: 1s}]",
            "load.max_in_flight=20",
        ],
    );
    same_verdicts_everywhere(&pick("mix"), &["load.sessions=40", "load.concurrency=10"]);
    // A ramp capped by a session count: the same 20 sessions everywhere, whatever the
    // machine's speed (the stages last far longer than 20 sessions take).
    same_verdicts_everywhere(
        &pick("closed-ramp"),
        &[
            "load.stages=[{ramp: 1..5, over: 1s}, {hold: 5, for: 60s}]",
            "load.sessions=20",
        ],
    );
    // Flows with their own loads, each cut to a fixed number of sessions.
    same_verdicts_everywhere(
        &pick("mix-own-loads"),
        &[
            "flows.accept.load.arrival=[{hold: 20/s, for: 1s}]",
            "flows.reject.load.sessions=10",
            "flows.cancel.load.stages=[{ramp: 1..2, over: 1s}, {hold: 2, for: 60s}]",
            "flows.cancel.load.sessions=10",
        ],
    );
    let all: usize = [
        "mix-own-loads",
        "closed-max",
        "idle-hold",
        "open-rate",
        "open-soak",
        "mix",
        "closed-ramp",
    ]
    .iter()
    .map(|s| pick(s).len())
    .sum();
    assert_eq!(all, load.len(), "a load scenario is not exercised here");
}
