//! `docs/report.schema.json` against real reports: a run of the binary against the
//! embedded server (with failures and every kind of threshold), a merge of it, and
//! deliberate drift that the schema must reject.

mod procs;

use serde_json::{Value, json};
use sigbench::report::RunReport;

use procs::{TempDir, call_scenario, sigbench};

/// An edit that makes a report drift from the schema.
type Drift = Box<dyn Fn(&mut Value)>;

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/report.schema.json");
    let text = std::fs::read_to_string(path).expect("docs/report.schema.json exists");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn validator() -> jsonschema::Validator {
    let schema = schema();
    jsonschema::meta::validate(&schema).expect("the schema is a valid draft 2020-12 schema");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

/// Every error, one per line with its JSON path.
fn errors(validator: &jsonschema::Validator, instance: &Value) -> String {
    validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A real report from the binary: 12 sessions whose hang-up expectation is wrong, with
/// latency, rate, failure and failure-rate thresholds.
fn real_report(dir: &TempDir) -> Value {
    let thresholds = "  call: { p99: 1s }\n  session: { rate: \">= 1/s\" }\n  \
                      failures: 0\n  failure_rate: 50%\n";
    let scenario = dir.write(
        "schema.yaml",
        &call_scenario("schema-run", 12, true, thresholds),
    );
    let reports = dir.join("reports");
    let out = sigbench(
        dir,
        &[
            "run",
            scenario.to_str().unwrap(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.code,
        Some(1),
        "the wrong expectation fails:\n{}",
        out.text()
    );
    let text = std::fs::read_to_string(out.path_after("report: ")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn real_and_merged_reports_match_the_schema_and_drift_does_not() {
    let validator = validator();
    let dir = TempDir::new("schema");
    let report = real_report(&dir);

    // The run exercised what the schema describes.
    assert!(!report["failures"].as_array().unwrap().is_empty());
    let sample = &report["failures"][0]["samples"][0];
    assert!(!sample["frames"].as_array().unwrap().is_empty(), "{sample}");
    let units: Vec<&str> = report["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["unit"].as_str().unwrap())
        .collect();
    assert_eq!(units, ["us", "per_s", "count", "fraction"]);
    assert_eq!(errors(&validator, &report), "", "a real report is valid");

    // A merged report (two whole runs add up) is valid too.
    let parsed = RunReport::from_json(&report.to_string()).unwrap();
    let merged = RunReport::merge(&[parsed.clone(), parsed]).unwrap();
    let merged = serde_json::to_value(&merged).unwrap();
    assert_eq!(merged["meta"]["shards"], json!(["1/1", "1/1"]));
    assert_eq!(errors(&validator, &merged), "", "a merged report is valid");

    // Drift the schema must catch: each edit makes the report invalid.
    let drifts: Vec<(&str, Drift)> = vec![
        (
            "unknown top-level field",
            Box::new(|r| r["extra"] = json!(1)),
        ),
        (
            "missing meta field",
            Box::new(|r| {
                r["meta"].as_object_mut().unwrap().remove("duration_ms");
            }),
        ),
        (
            "renamed metric field",
            Box::new(|r| {
                let m = r["metrics"][0].as_object_mut().unwrap();
                let v = m.remove("p99_us").unwrap();
                m.insert("p99".into(), v);
            }),
        ),
        (
            "string count",
            Box::new(|r| r["sessions"]["done"] = json!("12")),
        ),
        (
            "negative latency",
            Box::new(|r| r["metrics"][0]["max_us"] = json!(-1)),
        ),
        (
            "bad shard",
            Box::new(|r| r["meta"]["shards"] = json!(["0/3"])),
        ),
        (
            "bad status",
            Box::new(|r| r["meta"]["status"] = json!("ok")),
        ),
        (
            "status vs exit code",
            Box::new(|r| r["meta"]["exit_code"] = json!(0)),
        ),
        (
            "bad histogram",
            Box::new(|r| r["metrics"][0]["histogram"] = json!("xyz")),
        ),
        (
            "bad stat",
            Box::new(|r| r["thresholds"][0]["stat"] = json!("p42")),
        ),
        (
            "passing without data",
            Box::new(|r| {
                r["thresholds"][0]["observed"] = json!(null);
                r["thresholds"][0]["pass"] = json!(true);
            }),
        ),
        (
            "bad format",
            Box::new(|r| r["format"] = json!("sigbench-report/2")),
        ),
        (
            "bad start time",
            Box::new(|r| r["meta"]["started_at"] = json!("yesterday")),
        ),
        (
            "too many samples",
            Box::new(|r| {
                let s = r["failures"][0]["samples"][0].clone();
                r["failures"][0]["samples"] = json!([s, s, s, s]);
            }),
        ),
    ];
    for (what, drift) in drifts {
        let mut changed = report.clone();
        drift(&mut changed);
        assert!(
            !validator.is_valid(&changed),
            "the schema accepts a report with {what}"
        );
    }
}
