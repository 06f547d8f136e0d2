//! Shared helpers of the reference server's integration tests: an in-process server on
//! port 0, a raw JSON-over-WebSocket client in which every wait has a timeout (a test
//! fails, it never hangs), shape checks for the data of §P-4, and a tiny HTTP client for
//! `/healthz` and `/metrics`.

// Every test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod fixtures;
mod http;
pub mod rogue;
mod shapes;

pub use http::Metrics;
pub use shapes::*;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sigbench::protocol::Code;
use sigbench::protocol::token::token_for;
use sigbench::server::{Auth, ServerConfig, ServerHandle, spawn};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// How long a test waits for a frame it expects.
pub const WAIT: Duration = Duration::from_secs(2);
/// How long a test listens to conclude that no frame is coming.
pub const QUIET: Duration = Duration::from_millis(150);

static NEXT_NAME: AtomicU64 = AtomicU64::new(1);

/// A name no other test uses: `prefix-N`.
pub fn acct(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT_NAME.fetch_add(1, Ordering::Relaxed))
}

/// Milliseconds since the Unix epoch (§P-1.4).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// ---------------------------------------------------------------------------------------
// Server

/// A reference server running inside the test's runtime.
pub struct TestServer {
    pub handle: ServerHandle,
    secret: Option<String>,
}

/// A server with the default config (open mode, port 0).
pub async fn start_server() -> TestServer {
    start_server_with(ServerConfig::default()).await
}

/// A server with `config`; the listen address is always forced to 127.0.0.1:0.
pub async fn start_server_with(mut config: ServerConfig) -> TestServer {
    config.listen = "127.0.0.1:0".parse().expect("literal address");
    let secret = match &config.auth {
        Auth::Open => None,
        Auth::Secret(s) => Some(s.clone()),
    };
    let handle = spawn(config).await.expect("the server starts");
    TestServer { handle, secret }
}

impl TestServer {
    pub fn url(&self) -> String {
        self.handle.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    /// A connected client that has not logged in.
    pub async fn connect(&self) -> Client {
        let mut c = Client::connect(&self.url()).await;
        c.secret = self.secret.clone();
        c
    }

    /// A client logged in as `account` on the default device.
    pub async fn online(&self, account: &str) -> Client {
        let mut c = self.connect().await;
        c.login(account).await;
        c
    }

    /// A client logged in as `account` on `device`.
    pub async fn online_on(&self, account: &str, device: &str) -> Client {
        let mut c = self.connect().await;
        c.login_on(account, device).await;
        c
    }

    /// Closes `client` and waits until the server treats its account as offline: an
    /// invite to it answers 10201. Only for accounts with no other online device.
    pub async fn go_offline(&self, client: Client) {
        let account = client.account.clone();
        client.close().await;
        let mut probe = self.online(&acct("probe")).await;
        let channel = probe.ok("create", json!({"type": 1})).await["channel"]["channelId"].clone();
        let deadline = Instant::now() + WAIT;
        for n in 0.. {
            let r = probe
                .request(
                    "invite",
                    json!({"channelId": channel, "account": account, "requestId": format!("probe-{n}")}),
                )
                .await;
            if r["code"] == 10201 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{account} still online after its connection closed: {r}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `GET path` on the server's port: (status, body).
    pub async fn http_get(&self, path: &str) -> (u16, String) {
        tokio::time::timeout(WAIT, http::http_get(self.addr(), path))
            .await
            .unwrap_or_else(|_| panic!("GET {path} timed out"))
    }

    /// The current `/metrics`.
    pub async fn metrics(&self) -> Metrics {
        let (status, body) = self.http_get("/metrics").await;
        assert_eq!(status, 200, "GET /metrics: {body}");
        Metrics::parse(&body)
    }

    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------
// Client

/// What the socket gave when a frame was awaited.
#[derive(Debug)]
pub enum Wire {
    Text(Value),
    /// A close frame and its code.
    Close(Option<u16>),
    /// The connection ended without a close frame (reset, EOF, protocol error).
    Ended(String),
    Timeout,
}

/// A logged-in session's first three frames (§P-3.6).
#[derive(Debug)]
pub struct Session {
    pub response: Value,
    pub channels: Vec<Value>,
    pub unread: Vec<Value>,
}

/// A raw protocol client. Requests get increasing ids; pushes that arrive while a
/// response is awaited are kept, in order, for the next `recv`/`expect_*`.
pub struct Client {
    ws: WebSocketStream<TcpStream>,
    next_id: u64,
    pending: VecDeque<Value>,
    secret: Option<String>,
    pub account: String,
    pub device: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.device)
    }
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let addr = url_addr(url);
        let stream = TcpStream::connect(addr).await.expect("TCP connect");
        Client::handshake(url, stream).await
    }

    /// A client whose socket has a small receive buffer (for slow-consumer tests).
    pub async fn connect_small_buffer(url: &str, recv_buffer: u32) -> Client {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(recv_buffer).expect("SO_RCVBUF");
        let stream = socket.connect(url_addr(url)).await.expect("TCP connect");
        Client::handshake(url, stream).await
    }

    /// A connection whose upgrade the server may refuse: the HTTP status then.
    pub async fn try_connect(url: &str) -> Result<Client, u16> {
        let stream = TcpStream::connect(url_addr(url))
            .await
            .expect("TCP connect");
        match tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, stream))
            .await
            .expect("handshake timed out")
        {
            Ok((ws, _)) => Ok(Client::new(ws)),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("handshake: {e}"),
        }
    }

    async fn handshake(url: &str, stream: TcpStream) -> Client {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, stream))
            .await
            .expect("handshake timed out")
            .expect("WebSocket handshake");
        Client::new(ws)
    }

    fn new(ws: WebSocketStream<TcpStream>) -> Client {
        Client {
            ws,
            next_id: 1,
            pending: VecDeque::new(),
            secret: None,
            account: String::from("(not logged in)"),
            device: String::from("default"),
        }
    }

    /// The token the server accepts for `account`.
    pub fn token(&self, account: &str) -> String {
        match &self.secret {
            Some(secret) => token_for(secret, account),
            None => "any-token".to_string(),
        }
    }

    pub async fn send_message(&mut self, message: Message) {
        tokio::time::timeout(WAIT, self.ws.send(message))
            .await
            .unwrap_or_else(|_| panic!("{self:?}: send timed out"))
            .unwrap_or_else(|e| panic!("{self:?}: send failed: {e}"));
    }

    /// Sends `text` as one text frame, as is.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.send_message(Message::text(text.into())).await;
    }

    /// Sends one text message split into `parts` WebSocket frames.
    pub async fn send_fragments(&mut self, parts: &[String]) {
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = Frame::message(part.clone(), opcode, i + 1 == parts.len());
            self.send_message(Message::Frame(frame)).await;
        }
    }

    /// Sends a request with the next id and returns that id.
    pub async fn send(&mut self, op: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let text = json!({"id": id, "op": op, "params": params}).to_string();
        self.send_text(text).await;
        id
    }

    /// The next thing on the socket, waiting at most `within`.
    pub async fn wire(&mut self, within: Duration) -> Wire {
        let deadline = Instant::now() + within;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Wire::Timeout,
                Ok(next) => next,
            };
            match next {
                None => return Wire::Ended("stream ended".into()),
                Some(Err(e)) => return Wire::Ended(e.to_string()),
                Some(Ok(Message::Text(text))) => {
                    let value = serde_json::from_str(&text).unwrap_or_else(|e| {
                        panic!("{self:?}: server sent non-JSON text {text:?}: {e}")
                    });
                    return Wire::Text(value);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Wire::Close(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(Message::Binary(_))) => panic!("{self:?}: server sent a binary frame"),
                Some(Ok(_)) => continue, // ping, pong
            }
        }
    }

    /// The next frame (kept pushes first), waiting at most [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        match self.wire(WAIT).await {
            Wire::Text(v) => v,
            other => panic!("{self:?}: expected a frame, got {other:?}"),
        }
    }

    /// The response to request `id`; pushes before it are kept for later.
    pub async fn response_to(&mut self, id: u64) -> Value {
        loop {
            let v = match self.wire(WAIT).await {
                Wire::Text(v) => v,
                other => panic!("{self:?}: expected the response to {id}, got {other:?}"),
            };
            if v.get("push").is_some() {
                self.pending.push_back(v);
                continue;
            }
            assert_eq!(v["id"], json!(id), "{self:?}: responses out of order: {v}");
            return v;
        }
    }

    /// Sends a request and returns its response, keeping pushes for later.
    pub async fn request(&mut self, op: &str, params: Value) -> Value {
        let id = self.send(op, params).await;
        self.response_to(id).await
    }

    /// A request that must answer `code`; returns the whole response.
    pub async fn expect_code(&mut self, op: &str, params: Value, code: Code) -> Value {
        let r = self.request(op, params.clone()).await;
        assert_code(&r, code, &format!("{self:?} {op} {params}"));
        r
    }

    /// A request that must succeed; returns its `data` (null when absent).
    pub async fn ok(&mut self, op: &str, params: Value) -> Value {
        let r = self.expect_code(op, params, Code::Ok).await;
        r.get("data").cloned().unwrap_or(Value::Null)
    }

    pub async fn login(&mut self, account: &str) -> Session {
        let token = self.token(account);
        self.login_with(json!({"account": account, "token": token}))
            .await
    }

    pub async fn login_on(&mut self, account: &str, device: &str) -> Session {
        let token = self.token(account);
        self.login_with(json!({"account": account, "token": token, "device": device}))
            .await
    }

    /// Logs in with `params` and checks the frame order of §P-3.6: the response is the
    /// next frame, then `channelsSync`, then `unreadSync`.
    pub async fn login_with(&mut self, params: Value) -> Session {
        let id = self.send("login", params.clone()).await;
        let response = self.recv().await;
        assert_eq!(response["id"], json!(id), "{self:?}: login response first");
        assert_code(&response, Code::Ok, &format!("login {params}"));
        let channels = self.expect_push("channelsSync").await["channels"]
            .as_array()
            .unwrap_or_else(|| panic!("channelsSync.channels is an array"))
            .clone();
        let unread = self.expect_push("unreadSync").await["events"]
            .as_array()
            .unwrap_or_else(|| panic!("unreadSync.events is an array"))
            .clone();
        self.account = response["data"]["account"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.device = response["data"]["device"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Session {
            response,
            channels,
            unread,
        }
    }

    /// The next frame must be a push of `kind`; returns the whole push.
    pub async fn expect_push(&mut self, kind: &str) -> Value {
        let v = self.recv().await;
        assert_eq!(
            v["push"],
            json!(kind),
            "{self:?}: expected a {kind} push, got {v}"
        );
        v
    }

    /// The next frame must be a `notify` of `event_type`; returns the event.
    pub async fn expect_event(&mut self, event_type: &str) -> Value {
        let v = self.recv().await;
        assert!(
            v["push"] == "notify" && v["event"]["eventType"] == event_type,
            "{self:?}: expected notify {event_type}, got {v}"
        );
        v["event"].clone()
    }

    /// The next frame must be a `multiClientSync` of `event_type`; returns the event.
    pub async fn expect_sync(&mut self, event_type: &str) -> Value {
        let v = self.recv().await;
        assert!(
            v["push"] == "multiClientSync" && v["event"]["eventType"] == event_type,
            "{self:?}: expected multiClientSync {event_type}, got {v}"
        );
        v["event"].clone()
    }

    /// Nothing arrives within `within` (and nothing is kept).
    pub async fn expect_no_frame(&mut self, within: Duration) {
        assert!(
            self.pending.is_empty(),
            "{self:?}: unexpected frames {:?}",
            self.pending
        );
        match self.wire(within).await {
            Wire::Timeout => {}
            other => panic!("{self:?}: expected silence, got {other:?}"),
        }
    }

    /// The next thing on the socket is a close frame with `code`.
    pub async fn expect_close(&mut self, code: u16) {
        assert!(
            self.pending.is_empty(),
            "{self:?}: frames before the close: {:?}",
            self.pending
        );
        match self.wire(WAIT).await {
            Wire::Close(Some(c)) => assert_eq!(c, code, "{self:?}: close code"),
            other => panic!("{self:?}: expected close {code}, got {other:?}"),
        }
    }

    /// Reads (and drops) frames until the connection ends, at most `within`. Returns the
    /// close code, or `None` when it ended without a close frame.
    pub async fn drain_until_closed(&mut self, within: Duration) -> Option<u16> {
        self.pending.clear();
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.wire(left).await {
                Wire::Text(_) => continue,
                Wire::Close(code) => return code,
                Wire::Ended(_) => return None,
                Wire::Timeout => panic!("{self:?}: connection still open after {within:?}"),
            }
        }
    }

    /// Kept pushes, taken out.
    pub fn take_pending(&mut self) -> Vec<Value> {
        self.pending.drain(..).collect()
    }

    /// Starts the closing handshake with `code`; the reply is read with [`Client::wire`].
    pub async fn send_close(&mut self, code: u16) {
        let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: code.into(),
            reason: "".into(),
        };
        tokio::time::timeout(WAIT, self.ws.close(Some(frame)))
            .await
            .expect("the Close frame is sent in time")
            .expect("the Close frame is sent");
    }

    /// Closes the connection with a close handshake (bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WAIT, self.ws.close(None)).await;
        let deadline = Instant::now() + WAIT;
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, self.ws.next()).await {}
    }
}

/// None of `clients` receives anything within [`QUIET`] (listened to at the same time).
pub async fn all_quiet(clients: &mut [&mut Client]) {
    futures_util::future::join_all(clients.iter_mut().map(|c| c.expect_no_frame(QUIET))).await;
}

fn url_addr(url: &str) -> SocketAddr {
    url.trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("url {url}: {e}"))
}

/// A shutdown stream for a command run in-process, and its trigger: each `send(())`
/// is one Ctrl-C (the first asks for a graceful stop, the second for an immediate one).
pub fn test_signals() -> (
    tokio::sync::mpsc::UnboundedSender<()>,
    impl futures_util::Stream<Item = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|()| ((), rx)) },
        );
    (tx, stream)
}
