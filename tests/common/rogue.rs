//! A misbehaving target for the harness's own tests: it logs accounts in like a real
//! server, then floods, answers late, goes silent or sends garbage. Every behaviour is
//! driven by what the harness sends (no timers), so tests do not depend on timing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// What the target does after a login succeeded.
#[derive(Clone, Copy, Debug)]
pub enum Misbehaviour {
    /// Answers each request, then sends `responses` responses with ids nobody sent and
    /// `pushes` notify pushes of `push_bytes` each, then a `ROOM_CLOSE` notify as a
    /// marker that the flood is over.
    Flood {
        responses: usize,
        pushes: usize,
        push_bytes: usize,
    },
    /// Holds back the reply to every `call`; when the next frame arrives, sends that
    /// late reply (code 200) first, then answers the new frame with code 400.
    Stale,
    /// Answers nothing after the login.
    Silent,
    /// Answers every request with a frame that is not JSON.
    Garbage,
    /// Answers every request 200 OK (with empty data): a target that behaves until the
    /// test drops it, which ends it as a crash would (its connections and its listener
    /// closed without a Close frame).
    Obliging,
}

/// A running misbehaving target.
pub struct Rogue {
    pub addr: SocketAddr,
    /// Requests (other than logins) received so far.
    pub requests: Arc<AtomicU64>,
    /// Notified at every request (other than logins).
    pub requested: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Rogue {
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Resolves once the target has received `n` requests (woken by each request, never
    /// by a timer); owns what it needs, so it can be spawned.
    pub fn requests_reach(&self, n: u64) -> impl std::future::Future<Output = ()> + 'static {
        let (requests, requested) = (self.requests.clone(), self.requested.clone());
        async move {
            loop {
                let next = requested.notified();
                if requests.load(Ordering::SeqCst) >= n {
                    return;
                }
                next.await;
            }
        }
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a target on a loopback port that misbehaves as told.
pub async fn start(how: Misbehaviour) -> Rogue {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let requested = Arc::new(Notify::new());
    let (count, notify) = (requests.clone(), requested.clone());
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let (count, notify) = (count.clone(), notify.clone());
            connections.spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                serve(ws, how, &count, &notify).await;
            });
        }
    });
    Rogue {
        addr,
        requests,
        requested,
        task,
    }
}

async fn serve(
    mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    how: Misbehaviour,
    count: &AtomicU64,
    notify: &Notify,
) {
    let mut held: Option<Value> = None;
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let id = frame.get("id").cloned().unwrap_or(Value::Null);
        let op = frame.get("op").and_then(Value::as_str).unwrap_or_default();
        if op == "login" {
            let ok = json!({"id": id, "code": 200, "message": "OK"});
            let channels = json!({"push": "channelsSync", "channels": []});
            let unread = json!({"push": "unreadSync", "events": []});
            for f in [ok, channels, unread] {
                if ws.send(Message::text(f.to_string())).await.is_err() {
                    return;
                }
            }
            continue;
        }
        count.fetch_add(1, Ordering::SeqCst);
        notify.notify_waiters();
        let out: Vec<String> = match how {
            Misbehaviour::Flood {
                responses,
                pushes,
                push_bytes,
            } => {
                let mut out = vec![json!({"id": id, "code": 200, "message": "OK"}).to_string()];
                out.extend((0..responses).map(|i| {
                    json!({"id": 1_000_000_000u64 + i as u64, "code": 200, "message": "OK"})
                        .to_string()
                }));
                let pad = "x".repeat(push_bytes);
                out.extend((0..pushes).map(|_| {
                    json!({"push": "notify", "event": {"eventType": "FLOOD", "pad": pad}})
                        .to_string()
                }));
                out.push(
                    json!({"push": "notify", "event": {"eventType": "ROOM_CLOSE"}}).to_string(),
                );
                out
            }
            Misbehaviour::Stale => {
                let mut out = Vec::new();
                if let Some(late) = held.take() {
                    out.push(json!({"id": late, "code": 200, "message": "OK"}).to_string());
                }
                if op == "call" {
                    held = Some(id);
                } else {
                    out.push(json!({"id": id, "code": 400, "message": "BAD_FRAME"}).to_string());
                }
                out
            }
            Misbehaviour::Silent => Vec::new(),
            Misbehaviour::Garbage => vec!["}{ this is not json".to_string()],
            Misbehaviour::Obliging => {
                vec![json!({"id": id, "code": 200, "message": "OK", "data": {}}).to_string()]
            }
        };
        for text in out {
            if ws.send(Message::text(text)).await.is_err() {
                return;
            }
        }
    }
}
