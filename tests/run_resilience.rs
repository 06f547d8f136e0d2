//! `sigbench run` when things go wrong: a target that dies mid-run, a server
//! that sends malformed frames, and pushes nobody consumed under `strict`. Every case
//! must end by itself, write its report and exit with the documented code. Every wait is
//! on an event (requests reaching the target, the process exiting), never a fixed sleep.

mod common;
mod procs;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::rogue::{self, Misbehaviour};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn reports_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sigbench-resilience-{}-{name}", std::process::id()))
}

fn scenario(name: &str, yaml: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("sigbench-res-{}-{name}.yaml", std::process::id()));
    std::fs::write(&path, yaml).unwrap();
    path
}

fn spawn_run(args: &[&str], reports: &PathBuf) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sigbench"))
        .arg("run")
        .args(args)
        .arg("--report-dir")
        .arg(reports)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs")
}

/// Waits for a child to exit, with a deadline; kills it (and fails) when it does not end.
fn wait_bounded(child: Child, limit: Duration) -> Output {
    procs::wait_child(child, limit).unwrap_or_else(|out| {
        panic!(
            "still running after {limit:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn the_report(dir: &PathBuf) -> serde_json::Value {
    let entry = std::fs::read_dir(dir)
        .expect("a report folder")
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a JSON report");
    serde_json::from_str(&std::fs::read_to_string(entry).unwrap()).unwrap()
}

/// Sessions for a minute, four at a time: the target dies long before the end.
const STEADY: &str = r#"
name: steady
roles:
  maker: {}
load:
  duration: 60s
  concurrency: 4
steps:
  - name: create
    as: maker
    create: { type: 1 }
  - pause: 20ms
"#;

// Ctrl-C and SIGTERM: tests/run_exit_paths.rs (signals sent once the target has seen the
// sessions' requests, and a run stopped in-process through its shutdown stream).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_mid_run_ends_the_run_with_failures_and_a_report() {
    let target = rogue::start(Misbehaviour::Obliging).await;
    let path = scenario("target-dies", STEADY);
    let reports = reports_dir("target-dies");
    let child = spawn_run(
        &[
            path.to_str().unwrap(),
            "--target",
            &target.url(),
            "--secret",
            "any",
            "--quiet",
        ],
        &reports,
    );
    // Mid-run: every worker's sessions are under way (two rounds of requests each).
    loop {
        let next = target.requested.notified();
        if target.requests.load(Ordering::SeqCst) >= 8 {
            break;
        }
        next.await;
    }
    drop(target); // dies: connections and listener closed, no Close frame
    let out = tokio::task::spawn_blocking(move || wait_bounded(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = the_report(&reports);
    assert!(!report["failures"].as_array().unwrap().is_empty());
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("stopped accepting connections"),
        "{warnings}"
    );
}

/// A server that logs anyone in and then answers every request with a frame that is
/// not valid JSON before the real response.
async fn garbling_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    let req: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let id = req["id"].as_u64().unwrap();
                    if req["op"] == "login" {
                        let p = &req["params"];
                        let data = serde_json::json!({"account": p["account"], "device": p["device"], "serverTime": 1});
                        for frame in [
                            serde_json::json!({"id": id, "code": 200, "message": "OK", "data": data}),
                            serde_json::json!({"push": "channelsSync", "channels": []}),
                            serde_json::json!({"push": "unreadSync", "events": []}),
                        ] {
                            let _ = ws.send(Message::text(frame.to_string())).await;
                        }
                    } else {
                        let _ = ws.send(Message::text("{not json")).await;
                        let ok =
                            serde_json::json!({"id": id, "code": 200, "message": "OK", "data": {}});
                        let _ = ws.send(Message::text(ok.to_string())).await;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_server_frames_are_failures_with_samples_not_crashes() {
    let url = garbling_server().await;
    let path = scenario(
        "malformed",
        "name: malformed\nroles:\n  a: {}\nload: { sessions: 3, concurrency: 1 }\nsteps:\n  - name: make\n    as: a\n    create: { type: 1 }\n",
    );
    let reports = reports_dir("malformed");
    let child = spawn_run(
        &[path.to_str().unwrap(), "--target", &url, "--secret", "s"],
        &reports,
    );
    let out = tokio::task::spawn_blocking(move || wait_bounded(child, Duration::from_secs(20)))
        .await
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("malformed server frame"), "{all}");
    assert!(
        all.contains("{not json"),
        "the sample shows the frame: {all}"
    );
}

#[test]
fn strict_fails_a_session_whose_pushes_were_not_consumed() {
    let path = scenario(
        "strict",
        r#"
name: strict-leftover
strict: true
roles:
  caller: {}
  callee: {}
load: { sessions: 2, concurrency: 1 }
steps:
  - name: call
    as: caller
    call: { type: 1, account: "${callee}", requestId: "${session}" }
  - pause: 100ms
"#,
    );
    let reports = reports_dir("strict");
    let out = wait_bounded(
        spawn_run(&[path.to_str().unwrap()], &reports),
        Duration::from_secs(20),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("unconsumed notify INVITE"), "{all}");
}
