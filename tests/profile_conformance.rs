//! The whole conformance suite through each shipped wire profile, against the embedded
//! reference server speaking that framing (`serve --wire`): every semantic case passes;
//! the cases about the built-in framing are skipped, except through
//! profiles/sigbench.yaml, whose verdicts equal the native driver's case by case.

use std::path::Path;
use std::sync::Arc;

use sigbench::conformance::{self, Options, SuiteOutcome, TargetSettings, Verdict};
use sigbench::drivers::profile::{Profile, ProfileRef};
use sigbench::server::ServerConfig;
use sigbench::server::wire::Wire;

fn profile(name: &str) -> ProfileRef {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("profiles/{name}.yaml"));
    ProfileRef(Arc::new(
        Profile::load(&path).unwrap_or_else(|e| panic!("{name}: {e:?}")),
    ))
}

/// The whole suite through `profile` against the embedded server speaking `wire`, every
/// rule judged strictly.
async fn suite(wire: Wire, profile: Option<ProfileRef>) -> SuiteOutcome {
    let options = Options {
        jobs: 8,
        profile,
        strict: true,
        ..Options::embedded(ServerConfig {
            wire,
            ..ServerConfig::default()
        })
    };
    conformance::run(options, |_| {})
        .await
        .expect("the suite runs")
}

fn verdicts(outcome: &SuiteOutcome) -> Vec<(String, Verdict)> {
    outcome
        .cases
        .iter()
        .map(|c| (format!("{} {}", c.spec, c.name), c.verdict))
        .collect()
}

fn failures(outcome: &SuiteOutcome) -> Vec<String> {
    outcome
        .cases
        .iter()
        .filter(|c| c.verdict.fails_run())
        .map(|c| format!("{} {}: {:?} {:?}", c.spec, c.name, c.note, c.difference))
        .collect()
}

/// One suite at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_through_every_shipped_profile() {
    let native = suite(Wire::Sigbench, None).await;
    assert_eq!(failures(&native), Vec::<String>::new());

    let through = suite(Wire::Sigbench, Some(profile("sigbench"))).await;
    assert_eq!(
        verdicts(&through),
        verdicts(&native),
        "sigbench profile vs native"
    );

    let catalog =
        conformance::catalog::load(&TargetSettings::default().for_embedded().values()).unwrap();
    for (wire, name) in [(Wire::JsonRpc, "jsonrpc"), (Wire::Protoo, "protoo")] {
        let outcome = suite(wire, Some(profile(name))).await;
        assert_eq!(failures(&outcome), Vec::<String>::new(), "{name}");
        for (case, entry) in outcome.cases.iter().zip(&catalog) {
            let expected = if entry.case.framing {
                Verdict::Skip
            } else {
                Verdict::Pass
            };
            assert_eq!(
                case.verdict, expected,
                "{name}: {} {}",
                case.spec, case.name
            );
        }
        let skipped = outcome
            .cases
            .iter()
            .filter(|c| c.verdict == Verdict::Skip)
            .count();
        assert!(
            skipped > 0 && skipped < outcome.cases.len() / 4,
            "{name}: {skipped}"
        );
    }
}
