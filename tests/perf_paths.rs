//! The paths issue 6 made faster keep their meaning: a burst of requests that the server
//! reads in one go is answered completely and in order (§P-1.5), even when it is larger
//! than the server's per-connection queue.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// More requests than the server's outbound queue holds (1024), written at once.
const BURST: u64 = 3000;

#[tokio::test]
async fn a_pipelined_burst_is_answered_completely_and_in_order() {
    let server = start_server().await;
    let (ws, _) = tokio_tungstenite::connect_async(server.url())
        .await
        .unwrap();
    let (mut sink, mut stream) = ws.split();
    let login = json!({"id": 0, "op": "login", "params": {"account": acct("burst"), "token": "t"}});
    sink.send(Message::text(login.to_string())).await.unwrap();
    // Every request is written before any response is read, as one batch of frames; a
    // separate task writes so that a full socket buffer cannot stall the test.
    let writer = tokio::spawn(async move {
        for id in 1..=BURST {
            let frame = json!({"id": id, "op": "query", "params": {"channelId": "none"}});
            sink.feed(Message::text(frame.to_string())).await.unwrap();
        }
        sink.flush().await.unwrap();
        sink
    });
    let mut expected = 0;
    while expected <= BURST {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("every request gets its response");
        let Some(Ok(Message::Text(text))) = next else {
            panic!("connection ended: {next:?}");
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame.get("push").is_some() {
            continue; // the syncs after login
        }
        assert_eq!(
            frame["id"], expected,
            "responses come back in request order"
        );
        assert_eq!(frame["code"], if expected == 0 { 200 } else { 10404 });
        expected += 1;
    }
    let _sink = writer.await.unwrap();
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get("sigbench_slow_consumer_disconnects_total", &[]),
        0.0,
        "a client that reads is never a slow consumer"
    );
}

/// The open model's dispatcher (run outside tokio's cooperative budget) starts every
/// arrival of its timetable.
#[test]
fn the_open_model_runs_its_whole_timetable() {
    let dir = std::env::temp_dir().join(format!("sigbench-perf-open-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .args([
            "run",
            "scenarios/load/open-rate.yaml",
            "--quiet",
            "--no-html",
            "--set",
            "load.arrival=[{hold: 200/s, for: 2s}]",
            "--set",
            "load.max_in_flight=50",
            "--report-dir",
        ])
        .arg(&dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a report");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(report["sessions"]["done"], 400);
    assert_eq!(report["sessions"]["failed"], 0);
    // The achieved rate depends on how busy the machine is; scripts/bench measures it
    // (docs/performance.md). Here: the whole timetable ran and nothing failed.
}
