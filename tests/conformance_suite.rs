//! The built-in conformance suite as data: every file of `scenarios/conformance/` is
//! compiled into the binary and loads, every rule of docs/protocol.md has cases, and
//! docs/conformance.md lists exactly the cases the suite has.

use std::collections::BTreeSet;
use std::path::Path;

use sigbench::conformance::{SUITE_FILES, TargetSettings, catalog};

fn all_cases() -> Vec<catalog::CatalogEntry> {
    catalog::load(&TargetSettings::default().for_embedded().values()).expect("the suite loads")
}

#[test]
fn every_suite_file_is_built_in() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/conformance");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    let built_in: BTreeSet<String> = SUITE_FILES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        on_disk, built_in,
        "scenarios/conformance and SUITE_FILES differ"
    );
}

#[test]
fn cases_load_with_unique_names_and_valid_rules() {
    let cases = all_cases();
    assert!(cases.len() > 60, "only {} cases", cases.len());
    let mut names = BTreeSet::new();
    for e in &cases {
        assert!(
            names.insert(e.case.name.clone()),
            "case name {} is used twice",
            e.case.name
        );
        assert!(!e.case.plan.steps.is_empty());
    }
    // Loading without known TTLs works too (TTL cases compile with placeholders).
    catalog::load(&TargetSettings::default().values()).expect("the suite loads for a remote");
}

/// Every numbered rule P-1.x … P-8.x of the protocol, and P-9, has at least one case.
#[test]
fn every_rule_has_a_case() {
    let protocol =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md")).unwrap();
    let mut rules = BTreeSet::new();
    for piece in protocol.split("**P-").skip(1) {
        let id: String = piece
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let major: u32 = id.split('.').next().unwrap_or("0").parse().unwrap_or(0);
        if (1..=8).contains(&major) && id.contains('.') {
            rules.insert(format!("P-{id}"));
        }
    }
    rules.insert("P-9".into());
    assert!(
        rules.len() > 40,
        "rules not found in docs/protocol.md: {rules:?}"
    );
    let covered: BTreeSet<String> = all_cases().iter().map(|e| e.case.spec.clone()).collect();
    let missing: Vec<&String> = rules.iter().filter(|r| !covered.contains(*r)).collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
}

#[test]
fn docs_list_exactly_the_cases() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/conformance.md"))
        .unwrap();
    let listed = doc
        .split("<!-- cases:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- cases:end -->").next())
        .expect("docs/conformance.md has the case list markers");
    let expected = catalog::markdown_table(&all_cases());
    assert_eq!(
        listed.trim(),
        expected.trim(),
        "docs/conformance.md's case list is stale: regenerate it with `sigbench conformance --list --markdown`"
    );
}
