//! Shared helpers of the SIP tests: a Kamailio instance per test (started and stopped by
//! scripts/kamailio, which installs the Debian packages when missing), a SIP-over-WebSocket
//! test client around the UA core in which every wait has a deadline (a test fails, it
//! never hangs), and a scripted bad SIP server.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sigbench::drivers::sip::compose::Transport;
use sigbench::drivers::sip::ua::{Config, Event, Key, RequestEvent, ResponseEvent, Ua};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The password scripts/kamailio gives every account by default.
pub const PASSWORD: &str = "sigbench";
/// How long any one wait may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A Kamailio started for one test; stopped on drop (also when the test panics).
pub struct Kamailio {
    pub url: String,
    pub port: String,
}

impl Kamailio {
    pub fn start(args: &[&str]) -> Kamailio {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kamailio");
        let out = Command::new(&script)
            .arg("start")
            .args(["--shm", "64"])
            .args(args)
            .output()
            .expect("run scripts/kamailio");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "scripts/kamailio start failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one line expected: {stdout}");
        let url = lines[0]
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected output: {stdout}"))
            .to_string();
        let port = url
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        Kamailio { url, port }
    }

    /// Kills the server (SIGKILL to its process group's main process) as a crash would.
    /// Its log is removed, unless the test is failing (then it stays for reading).
    pub fn stop(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kamailio");
        let mut stop = Command::new(script);
        if std::thread::panicking() {
            stop.env("SIGBENCH_KAMAILIO_KEEP_LOGS", "1");
        }
        let _ = stop.args(["stop", &self.port]).output();
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A SIP UA on its own WebSocket connection. A task reads the connection, feeds the UA,
/// sends what the UA owes at once (so a UA the test is not looking at still answers
/// challenges and CANCELs) and queues the other events for the test.
pub struct Sip {
    ua: Arc<Mutex<Ua>>,
    /// Frames for the connection task to send.
    outgoing: mpsc::UnboundedSender<String>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Every frame sent and received, for failure messages.
    log: Arc<Mutex<Vec<String>>>,
}

pub fn config(user: &str, password: Option<&str>) -> Config {
    Config {
        user: user.into(),
        domain: "127.0.0.1".into(),
        auth_user: user.into(),
        password: password.map(str::to_string),
        transport: Transport::Ws,
    }
}

impl Sip {
    pub async fn connect(url: &str, config: Config) -> Sip {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
        let (ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect within the deadline")
            .expect("connect");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap()),
            Some("sip")
        );
        let ua = Arc::new(Mutex::new(Ua::new(config)));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (outgoing, out_rx) = mpsc::unbounded_channel();
        let (ev_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(drive(ws, ua.clone(), log.clone(), out_rx, ev_tx));
        Sip {
            ua,
            outgoing,
            events,
            log,
        }
    }

    /// Runs an action on the UA.
    pub fn with<T>(&self, f: impl FnOnce(&mut Ua) -> T) -> T {
        f(&mut self.ua.lock().unwrap())
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub async fn send(&mut self, text: String) {
        self.outgoing.send(text).expect("connection task alive");
    }

    /// The next event the test cares about (responses, requests, problems).
    pub async fn next(&mut self) -> Event {
        match tokio::time::timeout(WAIT, self.events.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => panic!("connection ended; frames:\n{}", self.log()),
            Err(_) => panic!(
                "no SIP event within {WAIT:?}; frames so far:\n{}",
                self.log()
            ),
        }
    }

    /// Waits for the response to `key` with `status` (skipping others of `key`).
    pub async fn response(&mut self, key: Key, status: u16) -> ResponseEvent {
        loop {
            match self.next().await {
                Event::Response(r) if r.key == key && r.status == status => return r,
                Event::Response(r) if r.key == key && !r.is_final => continue,
                other => panic!(
                    "waiting for {status} to request {key}, got {other:?}; frames:\n{}",
                    self.log()
                ),
            }
        }
    }

    /// The final response to `key`, whatever it is (provisional ones skipped).
    pub async fn final_response(&mut self, key: Key) -> ResponseEvent {
        loop {
            match self.next().await {
                Event::Response(r) if r.key == key && r.is_final => return r,
                Event::Response(r) if r.key == key => continue,
                other => panic!("waiting for the final response to {key}, got {other:?}"),
            }
        }
    }

    /// Waits for an incoming request of `method`.
    pub async fn request(&mut self, method: &str) -> RequestEvent {
        match self.next().await {
            Event::Request(r) if r.method == method => r,
            other => panic!(
                "waiting for {method}, got {other:?}; frames:\n{}",
                self.log()
            ),
        }
    }

    /// Registers for `expires` seconds and waits for the 200.
    pub async fn register(&mut self, expires: u32) -> ResponseEvent {
        let (key, text) = self
            .with(|ua| ua.register(Instant::now(), expires))
            .unwrap();
        self.send(text).await;
        self.response(key, 200).await
    }
}

async fn drive(
    mut ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    ua: Arc<Mutex<Ua>>,
    log: Arc<Mutex<Vec<String>>>,
    mut outgoing: mpsc::UnboundedReceiver<String>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut out = Vec::new();
    loop {
        let wake = ua.lock().unwrap().next_deadline();
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            text = outgoing.recv() => match text {
                Some(text) => out.push(Event::Send(text)),
                None => return,
            },
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    log.lock().unwrap().push(format!("<< {}", text.as_str()));
                    ua.lock().unwrap().receive(Instant::now(), text.as_str(), &mut out);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(wake.unwrap_or(far)) => {
                ua.lock().unwrap().tick(Instant::now(), &mut out);
            }
        }
        for event in out.drain(..) {
            match event {
                Event::Send(text) => {
                    log.lock().unwrap().push(format!(">> {text}"));
                    if ws.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                other => {
                    let _ = events.send(other);
                }
            }
        }
    }
}

/// A scripted SIP-over-WebSocket server: it accepts connections (answering the `sip`
/// subprotocol) and answers every frame it receives with what `script` makes of it.
pub struct BadServer {
    pub url: String,
}

impl BadServer {
    // tungstenite's handshake callback returns its error response by value.
    #[allow(clippy::result_large_err)]
    pub async fn start(script: fn(&str) -> Vec<String>) -> BadServer {
        use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let callback = |_: &Request, mut response: Response| {
                        response
                            .headers_mut()
                            .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
                        Ok(response)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await
                    else {
                        return;
                    };
                    while let Some(Ok(frame)) = ws.next().await {
                        if let Message::Text(text) = frame {
                            for answer in script(text.as_str()) {
                                if ws.send(Message::text(answer)).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        BadServer { url }
    }
}

/// A well-formed answer to `request` (Via, From, To, Call-ID, CSeq copied), with `status`.
pub fn answer(request: &str, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in request.split("\r\n").skip(1) {
        let name = line.split(':').next().unwrap_or_default();
        if ["Via", "From", "To", "Call-ID", "CSeq"].contains(&name) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}
