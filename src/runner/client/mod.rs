//! One simulated device: a WebSocket connection driven by its own task, which stamps
//! every frame on arrival, has the driver's [`Wire`] decode it, routes replies to the
//! request that awaits them, sends what the driver answers on its own, and buffers
//! pushes until a step consumes them — so an event that arrives before its `await`
//! starts still matches (no lost pushes). Nothing here knows the protocol; the buffers
//! themselves (bounded in bytes, late replies dropped) are the [`super::inbox`].
//!
//! The connection task each device runs is in [`task`].

mod task;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::inbox::{Counters, WaitEnd};
use super::outbox::Outbox;
use super::pulse::Pulse;
use super::tls::TlsSettings;
use super::trace::{DeviceLabel, Direction, SessionTrace};
use super::transport::{TlsTarget, Transport};
use crate::drivers::{Driver, Expecting, Identity, Inbound, OpParams, OpSpec, Push, Wire};
use crate::protocol::frame::ResponseFrame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// How long a closing handshake started by us may take.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Where to connect: a `ws://` or `wss://` URL, resolved once, with its TLS settings.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    /// `Some` for `wss://`.
    tls: Option<TlsTarget>,
    /// Whether the target still answers, over all connections made to it.
    pub pulse: Arc<Pulse>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Why a connection could not be made or used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {url}: {why}")]
    Connect { url: String, why: String },
    /// The target accepted the TCP connection but did not complete the handshake.
    #[error("connected to {url}, but no WebSocket handshake within {}", crate::scenario::format_duration(*.waited))]
    Silent { url: String, waited: Duration },
    #[error("connection closed{}", close_text(.0))]
    Closed(Option<u16>),
    /// No reply in time; with what arrived instead, when something did (an unreadable
    /// frame, a reply whose id matches no request).
    #[error("no response within {}{}", crate::scenario::format_duration(*.0), .1.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Timeout(Duration, Option<String>),
    /// The driver could not encode the request, or could not read its reply.
    #[error("{0}")]
    Protocol(String),
}

fn close_text(code: &Option<u16>) -> String {
    code.map_or(String::new(), |c| format!(" (close code {c})"))
}

impl Target {
    /// Parses and resolves a `ws://` or `wss://` URL; `wss://` connections use `tls`.
    pub async fn resolve(url: &str, tls: &TlsSettings) -> Result<Target, String> {
        let (rest, secure) = if let Some(rest) = url.strip_prefix("ws://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (rest, true)
        } else {
            return Err(format!("target '{url}' must start with ws:// or wss://"));
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(format!("target '{url}' has no host"));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
        let with_port = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:{}", if secure { 443 } else { 80 })
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|e| format!("cannot resolve '{authority}': {e}"))?
            .next()
            .ok_or_else(|| format!("'{authority}' resolves to no address"))?;
        let tls = if secure {
            let host = if has_port {
                authority.rsplit_once(':').map_or(authority, |(h, _)| h)
            } else {
                authority
            };
            Some(TlsTarget::new(tls.connector()?, host)?)
        } else {
            None
        };
        Ok(Target {
            url: url.to_string(),
            addr,
            tls,
            pulse: Arc::default(),
        })
    }
}

/// A frame as received, stamped when the reader task got it.
#[derive(Debug, Clone)]
pub struct Received<T> {
    pub at: Instant,
    pub text: Utf8Bytes,
    pub frame: T,
}

/// A request and its response.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// When the request was handed to the connection.
    pub sent: Instant,
    /// The request frame as sent.
    pub request: Utf8Bytes,
    pub response: Received<ResponseFrame>,
}

/// A request that got no response, with the frame that was (or would have been) sent.
#[derive(Debug, Clone)]
pub struct Failed {
    pub request: Utf8Bytes,
    pub error: ClientError,
}

/// A buffered push, as the driver classified it.
#[derive(Debug, Clone)]
pub struct PushRecord {
    pub at: Instant,
    pub push: Push,
    pub text: Utf8Bytes,
}

/// A response nobody was waiting for (a raw step's reply, or one with a null id).
pub type Unclaimed = Received<ResponseFrame>;

/// This connection's buffers: replies by key, unclaimed replies, pushes.
type Inbox = super::inbox::Inbox<Received<ResponseFrame>, PushRecord>;

/// The driver's per-connection state, shared by the steps (encoding) and the reader
/// task (decoding). A std mutex: nothing is awaited while it is held.
type SharedWire = Arc<Mutex<Box<dyn Wire>>>;

fn lock_wire(wire: &SharedWire) -> std::sync::MutexGuard<'_, Box<dyn Wire>> {
    wire.lock().unwrap_or_else(|p| p.into_inner())
}

/// A traced session's hold on one connection.
struct DeviceTrace {
    /// Where the frames go.
    session: Arc<SessionTrace>,
    /// Which of the session's connections this is.
    who: DeviceLabel,
    /// The step now sending on this connection.
    step: String,
}

/// Where a connection's frames are traced while a traced session uses it (`None`
/// otherwise: one uncontended lock and an `Option` check per frame). A std mutex: held
/// only to record, never across an await.
#[derive(Clone, Default)]
struct Tap(Arc<Mutex<Option<DeviceTrace>>>);

impl Tap {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<DeviceTrace>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a frame; `driver_frame`: sent by the driver on its own (acks, ticks).
    fn record(&self, dir: Direction, driver_frame: bool, at: Instant, text: &str) {
        if let Some(t) = &*self.lock() {
            let step = (!driver_frame).then_some(t.step.as_str());
            t.session.record(&t.who, dir, step, at, text);
        }
    }
}

/// A connected device. Cheap to share between the steps of one session.
pub struct Device {
    /// Frames for the connection task to write.
    outbox: Arc<Outbox>,
    /// What the connection task received and no step consumed yet.
    inbox: Arc<Inbox>,
    /// The driver's protocol state for this connection (ids, transactions).
    wire: SharedWire,
    /// Frame tracing, shared with the connection task.
    tap: Tap,
    /// Set once a login as the role's own account succeeded on this connection: the
    /// cleanup sends its requests only on such a device (an open one that never logged
    /// in would be answered 401).
    logged_in: AtomicBool,
}

/// Small buffers: a harness holds thousands of idle connections. tungstenite fills its
/// whole read buffer on every read, so all of it is resident: 2 KiB holds the frames of
/// a signaling flow (a larger frame grows the buffer, as before) and a batch of several.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0)
}

impl Device {
    /// Connects (optionally from a given source address) with the upgrade `driver` asks
    /// for `who`, and starts the reader task.
    pub async fn connect(
        target: &Target,
        source: Option<IpAddr>,
        timeout: Duration,
        driver: &dyn Driver,
        who: Identity<'_>,
    ) -> Result<Device, ClientError> {
        let fail = |why: String| ClientError::Connect {
            url: target.url.clone(),
            why,
        };
        let handshake = driver.handshake(who);
        let url = match &handshake.query {
            Some(q) if target.url.contains('?') => format!("{}&{q}", target.url),
            Some(q) => format!("{}?{q}", target.url),
            None => target.url.clone(),
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| fail(e.to_string()))?;
        if !handshake.subprotocols.is_empty() {
            let value = HeaderValue::from_str(&handshake.subprotocols.join(", "))
                .map_err(|e| fail(format!("bad subprotocol: {e}")))?;
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", value);
        }
        for (name, value) in &handshake.headers {
            let name =
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| fail(format!("bad header name '{name}': {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| fail(format!("bad value for header '{name}': {e}")))?;
            request.headers_mut().append(name, value);
        }
        let connect = async {
            let socket = if target.addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .map_err(|e| fail(e.to_string()))?;
            if let Some(ip) = source {
                socket
                    .bind(SocketAddr::new(ip, 0))
                    .map_err(|e| fail(format!("cannot bind source address {ip}: {e}")))?;
            }
            let stream: TcpStream = socket
                .connect(target.addr)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let _ = stream.set_nodelay(true);
            let stream = Transport::open(stream, target.tls.as_ref())
                .await
                .map_err(|e| fail(format!("TLS handshake failed: {e}")))?;
            super::transport::upgrade(request, stream, ws_config())
                .await
                .map_err(fail)
        };
        // Boxed: the TCP connect and the (TLS and) WebSocket handshake make a future of
        // several KiB that would otherwise sit inline in every session's and worker's
        // future for their whole life, idle included.
        let ws = tokio::time::timeout(timeout, Box::pin(connect))
            .await
            .map_err(|_| ClientError::Silent {
                url: target.url.clone(),
                waited: timeout,
            })??;
        let outbox = Arc::new(Outbox::default());
        let inbox = Arc::new(Inbox::default().with_pulse(target.pulse.clone()));
        let wire: SharedWire = Arc::new(Mutex::new(driver.wire()));
        let tap = Tap::default();
        tokio::spawn(task::drive(
            ws,
            outbox.clone(),
            inbox.clone(),
            wire.clone(),
            tap.clone(),
        ));
        Ok(Device {
            outbox,
            inbox,
            wire,
            tap,
            logged_in: AtomicBool::new(false),
        })
    }

    /// Sends a request of `op` and waits for its reply (or, for ops the driver says
    /// expect none, returns once the frame is queued). The request is encoded when this
    /// is called, so the future does not hold on to `params`.
    pub fn request<'d>(
        &'d self,
        op: &'static OpSpec,
        params: OpParams<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Exchange, Failed>> + use<'d> {
        let encoded = lock_wire(&self.wire).request(op, params);
        self.exchange(op.name, encoded, timeout)
    }

    /// Sends a request the driver names itself (see [`Wire::request_named`]) and waits
    /// for its reply.
    pub async fn request_internal(
        &self,
        name: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Exchange, Failed> {
        let encoded = lock_wire(&self.wire).request_named(name, params);
        self.exchange(name, encoded, timeout).await
    }

    async fn exchange(
        &self,
        name: &str,
        encoded: Result<crate::drivers::Outgoing, String>,
        timeout: Duration,
    ) -> Result<Exchange, Failed> {
        let outgoing = encoded.map_err(|why| Failed {
            request: Utf8Bytes::from(format!("({name} not sent)")),
            error: ClientError::Protocol(why),
        })?;
        let request: Utf8Bytes = outgoing.text.into();
        let failed = |error| Failed {
            request: request.clone(),
            error,
        };
        let (key, reply_rx) = match outgoing.expecting {
            Expecting::Reply(key) => {
                let reply_rx = self
                    .inbox
                    .expect(key)
                    .map_err(|code| failed(ClientError::Closed(code)))?;
                (key, Some(reply_rx))
            }
            Expecting::Nothing(_) => (0, None),
        };
        let sent = Instant::now();
        self.tap.record(Direction::Out, false, sent, &request);
        if self
            .outbox
            .send(Message::Text(request.clone()))
            .await
            .is_err()
        {
            return Err(failed(ClientError::Closed(self.close_code())));
        }
        let Some(reply_rx) = reply_rx else {
            let Expecting::Nothing(reply) = outgoing.expecting else {
                unreachable!("a request without a receiver expects nothing")
            };
            return Ok(Exchange {
                sent,
                request: request.clone(),
                response: Received {
                    at: sent,
                    text: request,
                    frame: reply,
                },
            });
        };
        match tokio::time::timeout(timeout, reply_rx).await {
            Ok(Ok(Ok(response))) => Ok(Exchange {
                sent,
                request,
                response,
            }),
            Ok(Ok(Err(why))) => Err(failed(ClientError::Protocol(why))),
            Ok(Err(_)) => Err(failed(ClientError::Closed(self.close_code()))),
            Err(_) => {
                // A reply that still comes is late: counted and dropped, never taken
                // by a later step.
                self.inbox.expire(key);
                // A reply the driver could not read, or one whose id matches no request,
                // may be the one this request waited for: say so, with the frame.
                let hint = self.inbox.unmatched_hint(|r| {
                    format!(
                        "the server sent a reply with id {}: {}",
                        r.frame.id.map_or_else(
                            || "none (no id the driver could read)".to_string(),
                            |i| i.to_string()
                        ),
                        truncate(&r.text)
                    )
                });
                Err(failed(ClientError::Timeout(timeout, hint)))
            }
        }
    }

    /// Sends frames as they are (for bad-input tests: garbage, binary, fragments);
    /// returns when the first was queued.
    pub async fn send_raw(&self, messages: Vec<Message>) -> Result<Instant, ClientError> {
        let sent = Instant::now();
        for message in &messages {
            let text = match message {
                Message::Text(text) => text.to_string(),
                Message::Frame(frame) => String::from_utf8_lossy(frame.payload()).into_owned(),
                Message::Binary(bytes) => format!("(binary, {} bytes)", bytes.len()),
                other => format!("({other:?})"),
            };
            self.tap.record(Direction::Out, false, sent, &text);
        }
        for message in messages {
            self.outbox
                .send(message)
                .await
                .map_err(|_| ClientError::Closed(self.close_code()))?;
        }
        Ok(sent)
    }

    /// Waits up to `timeout` after `sent` for the next response that no request
    /// claimed, or the close.
    pub async fn next_unclaimed(
        &self,
        sent: Instant,
        timeout: Duration,
    ) -> Result<Unclaimed, ClientError> {
        self.inbox
            .next_unclaimed(sent + timeout)
            .await
            .map_err(|end| match end {
                WaitEnd::Closed(code) => ClientError::Closed(code),
                WaitEnd::Deadline => ClientError::Timeout(timeout, None),
            })
    }

    /// A raw step gave up waiting for its reply: if it still comes, it is late.
    pub fn expire_unclaimed(&self) {
        self.inbox.expire_unclaimed();
    }

    /// Takes the oldest buffered push that `matches`, waiting until `deadline`.
    pub async fn take_push(
        &self,
        deadline: Instant,
        mut matches: impl FnMut(&Push) -> bool,
    ) -> Option<PushRecord> {
        self.inbox
            .take_push(deadline, |p| matches(&p.push))
            .await
            .ok()
    }

    /// Waits until the server closes the connection; returns its close code.
    pub async fn closed(&self, deadline: Instant) -> Option<Option<u16>> {
        self.inbox.closed(deadline).await
    }

    /// Removes and returns every buffered push (strict mode).
    pub fn drain_pushes(&self) -> Vec<PushRecord> {
        self.inbox.drain_pushes()
    }

    /// The texts of up to `n` buffered pushes, oldest first (for failure samples).
    pub fn peek_pushes(&self, n: usize) -> Vec<String> {
        self.inbox.peek_pushes(n, |p| p.text.to_string())
    }

    /// Starts (with `Some`) or ends tracing this connection's frames for a session.
    pub fn set_trace(&self, trace: Option<(Arc<SessionTrace>, DeviceLabel)>) {
        *self.tap.lock() = trace.map(|(session, who)| DeviceTrace {
            session,
            who,
            step: String::new(),
        });
    }

    /// Names the step that sends next on this connection (traced sessions only).
    pub fn trace_step(&self, step: &str) {
        if let Some(t) = &mut *self.tap.lock() {
            step.clone_into(&mut t.step);
        }
    }

    /// Copies of up to `n` buffered pushes, oldest first (to explain a failed await).
    pub fn buffered(&self, n: usize) -> Vec<PushRecord> {
        self.inbox.peek_pushes(n, Clone::clone)
    }

    /// What was dropped or malformed since last asked, without forgetting buffers.
    pub fn take_counters(&self) -> Counters {
        self.inbox.take_counters()
    }

    /// Moves the codes the driver counted on this connection into `out` (see
    /// [`crate::drivers::Driver::counts_codes`]).
    pub fn take_codes(&self, out: &mut Vec<(&'static str, u32, u64)>) {
        lock_wire(&self.wire).take_codes(out);
    }

    /// Starts a new session on this connection: forgets what the last one left
    /// buffered; returns what was dropped or malformed meanwhile.
    pub fn reset(&self) -> Counters {
        self.outbox.release();
        self.inbox.reset()
    }

    /// `Some(code)` once the connection has ended (`None` inside: no close frame).
    pub fn close_code(&self) -> Option<u16> {
        self.inbox.closed_now().flatten()
    }

    /// Why no Close frame came from the server, when none did.
    pub fn close_note(&self) -> Option<String> {
        self.inbox.close_note()
    }

    pub fn is_closed(&self) -> bool {
        self.inbox.closed_now().is_some()
    }

    /// Notes that a login as the role's own account succeeded on this connection.
    pub fn mark_logged_in(&self) {
        self.logged_in.store(true, Ordering::Relaxed);
    }

    /// Open, and logged in as the role's own account.
    pub fn is_logged_in(&self) -> bool {
        self.logged_in.load(Ordering::Relaxed) && !self.is_closed()
    }

    /// Closes the connection normally; the reader task ends by itself.
    pub async fn disconnect(&self) {
        let _ = self.outbox.send(Message::Close(None)).await;
    }
}

impl Drop for Device {
    /// The last handle is gone: the connection task closes the connection politely.
    fn drop(&mut self) {
        self.outbox.hang_up();
    }
}

/// At most ~1 KiB of a frame, for failure samples.
pub fn truncate(text: &str) -> String {
    const MAX: usize = 1024;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}
