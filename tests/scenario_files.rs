//! Every shipped scenario under `scenarios/` loads and validates.

use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.ends_with("conformance") {
            // Suite files (several cases each): tests/conformance_suite.rs loads them.
            continue;
        }
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_scenario_loads() {
    let mut files = Vec::new();
    yaml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"),
        &mut files,
    );
    assert!(
        files.len() >= 9,
        "expected the shipped scenarios, found {files:?}"
    );
    let results = sigbench::scenario::check_files(&files, &[]);
    let mut failures = Vec::new();
    for r in &results {
        if let Err(errors) = &r.result {
            failures.extend(errors.iter().map(ToString::to_string));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
