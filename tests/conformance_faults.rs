#![cfg(feature = "faults")]
//! Proof that the conformance suite can fail: the whole suite runs against the embedded
//! reference server once without faults (everything must pass) and once per deliberate
//! fault of `sigbench serve --fault` (at least one case must fail, and at least the cases
//! docs/conformance.md lists for that fault). Prints the fault → cases matrix.
//!
//! Run with `cargo test --features faults --test conformance_faults -- --nocapture` to
//! see the matrix.

use std::collections::BTreeMap;
use std::time::Duration;

use sigbench::conformance::{self, Options, SuiteOutcome};
use sigbench::server::ServerConfig;
use sigbench::server::faults::{Fault, Faults};

/// Suites run at once (each runs 16 cases at once).
const CONCURRENT_SUITES: usize = 2;

async fn run_suite(faults: Faults) -> SuiteOutcome {
    let options = Options {
        // Every rule, the protocol's choices included.
        strict: true,
        ..Options::embedded(ServerConfig {
            faults,
            ..ServerConfig::default()
        })
    };
    conformance::run(options, |_| {})
        .await
        .expect("the suite runs")
}

fn failing(outcome: &SuiteOutcome) -> Vec<String> {
    outcome
        .cases
        .iter()
        .filter(|c| c.verdict.fails_run())
        .map(|c| format!("{} {}", c.spec, c.name))
        .collect()
}

/// The matrix in docs/conformance.md: fault name → cases listed as catching it.
fn documented_matrix() -> BTreeMap<String, Vec<String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/conformance.md"))
        .expect("docs/conformance.md");
    let section = doc
        .split("<!-- fault-matrix:start -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- fault-matrix:end -->").next())
        .expect("docs/conformance.md has the fault matrix markers");
    let mut matrix = BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `fault` | what it breaks | `P-x.y case`, `P-x.y case` |
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let fault = cells[1].trim_matches('`').to_string();
        let cases = cells[3]
            .split(',')
            .map(|c| c.trim().trim_matches('`').to_string())
            .filter(|c| !c.is_empty())
            .collect();
        matrix.insert(fault, cases);
    }
    matrix
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_is_caught_and_a_correct_server_passes() {
    let clean = tokio::time::timeout(Duration::from_secs(120), run_suite(Faults::default()))
        .await
        .expect("the clean suite finishes");
    let clean_failures: Vec<String> = outcome_lines(&clean);
    assert!(
        clean.ok(),
        "the reference server must pass the whole suite:\n{}",
        clean_failures.join("\n")
    );

    let mut caught: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for chunk in Fault::ALL.chunks(CONCURRENT_SUITES) {
        let runs = chunk.iter().map(|fault| async move {
            let outcome =
                tokio::time::timeout(Duration::from_secs(180), run_suite(Faults::new([*fault])))
                    .await
                    .expect("a faulty suite finishes");
            (*fault, failing(&outcome))
        });
        for (fault, cases) in futures_util::future::join_all(runs).await {
            caught.insert(fault.name(), cases);
        }
    }

    println!("fault matrix (fault → failing cases):");
    for (fault, cases) in &caught {
        println!(
            "| `{fault}` | {} |",
            cases
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let documented = documented_matrix();
    for fault in Fault::ALL {
        let cases = &caught[fault.name()];
        assert!(
            !cases.is_empty(),
            "fault {fault} ({}) is caught by no case",
            fault.description()
        );
        let listed = documented
            .get(fault.name())
            .unwrap_or_else(|| panic!("docs/conformance.md lists no cases for fault {fault}"));
        assert!(!listed.is_empty(), "docs list no case for {fault}");
        for case in listed {
            assert!(
                cases.contains(case),
                "docs/conformance.md says {case} catches {fault}, but it passed (failing: {cases:?})"
            );
        }
    }
}

fn outcome_lines(outcome: &SuiteOutcome) -> Vec<String> {
    outcome
        .cases
        .iter()
        .filter(|c| c.verdict.fails_run())
        .map(|c| {
            let d = c
                .difference
                .as_ref()
                .map(|d| {
                    format!(
                        "{} [{}]: {} {}",
                        d.step,
                        d.role,
                        d.reason,
                        d.frames.join(" ")
                    )
                })
                .or_else(|| c.note.clone())
                .unwrap_or_default();
            format!("{} {}: {d}", c.spec, c.name)
        })
        .collect()
}
