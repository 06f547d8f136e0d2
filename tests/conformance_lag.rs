//! The whole conformance suite against a reference server whose presence lags 300 ms
//! behind disconnects (`sigbench serve --presence-lag 300ms`): no case may depend on the
//! server noticing a disconnect at once, so every case must still pass.

use std::time::Duration;

use sigbench::conformance::{self, Options};
use sigbench::server::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_passes_against_a_server_with_a_300ms_presence_lag() {
    let options = Options {
        // For the machine's load (CI shares two cores), not for the lag: a 2 s
        // handshake deadline was missed at load average 10.
        timeout_scale: 3.0,
        ..Options::embedded(ServerConfig {
            presence_lag: Duration::from_millis(300),
            ..ServerConfig::default()
        })
    };
    let outcome = tokio::time::timeout(Duration::from_secs(180), conformance::run(options, |_| {}))
        .await
        .expect("the suite finishes")
        .expect("the suite runs");
    let failed: Vec<String> = outcome
        .cases
        .iter()
        .filter(|c| !c.verdict.passed())
        .map(|c| {
            format!(
                "{} {} {}: {:?} {:?}",
                c.verdict.label(),
                c.spec,
                c.name,
                c.note,
                c.difference
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "cases that did not pass:\n{}",
        failed.join("\n")
    );
    assert!(outcome.cases.len() > 150);
}
