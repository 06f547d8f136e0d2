//! A profile drives a server sigbench did not write: a scripted "acme" server with its
//! own envelope, string ids, a two-step login (a session id saved from the first answer),
//! a subprotocol, a header and a query string, acks before answers, pushes that are
//! requests needing an auto-reply, keepalive pings, and a field map. Then the same
//! server answers badly — a code missing from the map, a reply without an id, a frame of
//! no known shape — and each step fails with the frame quoted and the rule named.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

const PROFILE: &str = r#"name: acme
connect:
  subprotocols: [acme.v1]
login:
  headers: { X-Device: "{device}" }
  query: "user={account}"
  steps:
    - { method: hello, params: { user: "{account}" }, save: { session: result.session } }
    - { op: login, params: { session: "{session}", token: "{token}" } }
requests:
  frame: { v: 1, id: $id, method: $method, params: $params }
correlation: { id: id, form: string, source: counter, prefix: "r-" }
responses:
  when: { ok: $present }
  ack: { ack: $present }
result:
  success: { ok: true }
  data: result
  code: error.code
  codes: { "401": AUTH_FAILED, "404": ROOM_NOT_EXISTS }
pushes:
  when: { event: $present }
  kind: event
  kinds: { incoming: notify }
  body: data
  fields: { event.from: event.caller }
keepalive: { every: 100ms, method: ping }
auto_replies:
  - when: { event: $present, id: $present }
    reply: { id: $request.id, ok: true }
"#;

/// What the server saw.
#[derive(Default)]
struct Seen {
    pings: AtomicU64,
    acked: AtomicBool,
    /// The upgrade carried the subprotocol, the header and the query.
    upgrade_ok: AtomicBool,
}

// The upgrade callback's error type is tungstenite's (an HTTP response), not ours.
#[allow(clippy::result_large_err)]
async fn acme_server(seen: Arc<Seen>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let check = seen.clone();
                let callback = move |req: &Request, mut resp: Response| {
                    let proto = req
                        .headers()
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok())
                        == Some("acme.v1");
                    let device = req.headers().get("x-device").is_some();
                    let query = req.uri().query().is_some_and(|q| q.starts_with("user="));
                    if proto && device && query {
                        check.upgrade_ok.store(true, SeqCst);
                    }
                    resp.headers_mut().insert(
                        "sec-websocket-protocol",
                        HeaderValue::from_static("acme.v1"),
                    );
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    let Message::Text(text) = msg else { continue };
                    let frame: Value = serde_json::from_str(&text).unwrap_or_default();
                    let id = frame["id"].clone();
                    let mut out = Vec::new();
                    match frame["method"].as_str() {
                        Some("hello") => {
                            out.push(json!({"ack": id}));
                            out.push(json!({"id": id, "ok": true, "result": {"session": "S-1"}}));
                        }
                        Some("login") if frame["params"]["session"] == "S-1" => {
                            out.push(json!({"id": id, "ok": true, "result": {}}));
                        }
                        Some("control") => {
                            out.push(json!({"id": id, "ok": true, "result": {}}));
                            out.push(json!({"event": "incoming", "id": "p1",
                                "data": {"event": {"eventType": "INVITE", "caller": "bob", "requestId": "q1"}}}));
                        }
                        Some("login") => {
                            out.push(json!({"id": id, "ok": false, "error": {"code": 401}}))
                        }
                        Some("ping") => {
                            seen.pings.fetch_add(1, SeqCst);
                            out.push(json!({"id": id, "ok": true}));
                        }
                        Some("delay") => {
                            let ready = seen.pings.load(SeqCst) > 0 && seen.acked.load(SeqCst);
                            out.push(if ready {
                                json!({"id": id, "ok": true, "result": {}})
                            } else {
                                json!({"id": id, "ok": false, "error": {"code": 404}})
                            });
                        }
                        Some("query") => {
                            out.push(json!({"id": id, "ok": false, "error": {"code": 999}}))
                        }
                        Some("create") => out.push(json!({"ok": true, "result": {}})),
                        Some("join") => out.push(json!({"weird": 1})),
                        _ if frame["id"] == "p1" && frame["ok"] == true => {
                            seen.acked.store(true, SeqCst);
                        }
                        _ => {}
                    }
                    for o in out {
                        if ws.send(Message::text(o.to_string())).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

const FEATURES: &str = r#"name: features
roles: { a: {} }
timeout: 2s
steps:
  - { name: ring me, as: a, control: { channelId: x, account: b } }
  - { name: invite arrives, as: a, await: INVITE, match: { from: bob, requestId: q1 } }
  - pause: 300ms
  - { name: pinged and acked, as: a, delay: { channelId: x } }
"#;

fn scenario(dir: &std::path::Path, name: &str, step: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!("name: {name}\nroles: {{ a: {{}} }}\ntimeout: 1s\nsteps:\n  - {step}\n"),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_drives_a_foreign_server_and_reports_bad_answers() {
    let seen = Arc::new(Seen::default());
    let addr = acme_server(seen.clone()).await;
    let dir = std::env::temp_dir().join(format!("sigbench-acme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("acme.yaml"), PROFILE).unwrap();
    std::fs::write(dir.join("features.yaml"), FEATURES).unwrap();
    let files = vec![
        dir.join("features.yaml"),
        scenario(
            &dir,
            "unmapped",
            "{ name: q, as: a, query: { channelName: x } }",
        ),
        scenario(&dir, "noid", "{ name: c, as: a, create: { type: 1 } }"),
        scenario(&dir, "shape", "{ name: j, as: a, join: { channelId: x } }"),
    ];
    let reports = dir.join("reports");
    let target = format!("ws://{addr}/");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sigbench"))
            .arg("run")
            .args(&files)
            .args(["--quiet", "--no-html", "--secret", "s", "--target", &target])
            .arg("--profile")
            .arg(dir.join("acme.yaml"))
            .arg("--report-dir")
            .arg(&reports)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let reports = std::env::temp_dir()
        .join(format!("sigbench-acme-{}", std::process::id()))
        .join("reports");
    let report = |name: &str| -> Value {
        std::fs::read_dir(&reports)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap())
            .find(|r| r["meta"]["scenario"] == name)
            .unwrap_or_else(|| {
                panic!(
                    "no report for {name}: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    };
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        seen.upgrade_ok.load(SeqCst),
        "subprotocol, header and query"
    );

    let features = report("features");
    assert_eq!(features["failures"], json!([]), "{features:#}");
    assert_eq!(features["sessions"]["ok"], 1);

    let failure = |name: &str| -> String {
        let r = report(name);
        assert_eq!(r["sessions"]["failed"], 1, "{r:#}");
        r["failures"].to_string()
    };
    let unmapped = failure("unmapped");
    assert!(
        unmapped.contains("code 999 at 'error.code' is not in result.codes"),
        "{unmapped}"
    );
    assert!(
        unmapped.contains("acme.yaml:"),
        "the rule's location: {unmapped}"
    );
    assert!(
        unmapped.contains(r#"\"code\":999"#),
        "the frame: {unmapped}"
    );
    let noid = failure("noid");
    assert!(noid.contains("a reply with id none"), "{noid}");
    assert!(
        noid.contains(r#"{\"ok\":true,\"result\":{}}"#),
        "the frame: {noid}"
    );
    let shape = failure("shape");
    assert!(shape.contains("frame matches no profile rule"), "{shape}");
    assert!(shape.contains("responses.when at"), "{shape}");
    assert!(shape.contains(r#"{\"weird\":1}"#), "the frame: {shape}");
}
