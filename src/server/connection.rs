//! One task per WebSocket connection: reads requests, runs them, and writes every frame
//! meant for this client — its own responses and other connections' pushes — from one
//! bounded queue, in the order they were produced (§P-1.5).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use super::ops::Caller;
use super::session::LoginOutcome;
use super::state::{ConnHandle, Outbound, Shared};
use super::wire::{self, WireState};
use crate::protocol::frame::{
    Push, code_response, error_response, parse_json, parse_request, response,
};
use crate::protocol::model::{KICK_LOGIN_ELSEWHERE, close_code};
use crate::protocol::{Code, FrameError, Op, Request};

/// Frames that may wait for one client. Past this the client is a slow consumer.
const QUEUE: usize = 1024;
/// How long a kicked connection may take to close before the new login answers anyway.
const KICK_WAIT: Duration = Duration::from_secs(2);
/// How long a closing handshake may take on a client that does not read.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Requests handled from one read before the replies are written. Each request queues
/// at most a few frames for this client, so a batch stays far below [`QUEUE`].
const READ_BATCH: usize = 64;

/// The close code and reason when the connection is stopped from outside.
fn stop_reason(shutdown: &CancellationToken) -> (u16, &'static str) {
    if shutdown.is_cancelled() {
        (1001, "server shutting down")
    } else {
        (close_code::POLICY, "slow consumer")
    }
}

/// What the read side decided.
enum Flow {
    Continue,
    /// The client went away (or the read failed): stop without writing.
    End,
    /// The client sent a Close frame: answer it with the same code (queued by
    /// tungstenite), then end the connection (RFC 6455 §5.5.1, §7.1.2).
    PeerClosed,
    /// Write what is queued, then close with this code.
    CloseAfterFlush(u16, &'static str),
}

/// Requests per second allowed on one connection (§P-9, 416), as a token bucket.
struct RateLimit {
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    fn new(per_second: u32) -> RateLimit {
        RateLimit {
            per_second: f64::from(per_second),
            tokens: f64::from(per_second),
            last: Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Connection<S> {
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    conn: ConnHandle,
    caller: Option<Caller>,
    rate: Option<RateLimit>,
    /// Translates the framing of `serve --wire` to and from the native one.
    wire: WireState,
}

/// Serves one upgraded connection until it closes, is kicked, is too slow, or the
/// server shuts down.
pub(crate) async fn serve<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let conn = ConnHandle {
        id: shared.next_id(),
        tx,
        kill: shutdown.child_token(),
        done: CancellationToken::new(),
    };
    Metrics::add(&shared.metrics.connections_total, 1);
    shared
        .metrics
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let rate = shared.config.rate_limit.map(RateLimit::new);
    let mut connection = Connection {
        ws,
        shared: shared.clone(),
        conn: conn.clone(),
        caller: None,
        rate,
        wire: WireState::new(shared.config.wire),
    };
    connection.run(&mut rx, &shutdown).await;
    let caller = connection.caller.take();
    if shared.config.presence_lag.is_zero()
        && !fault!(shared, PresenceNever)
        && let Some(caller) = &caller
    {
        // Before the socket closes: see `Connection::leave_presence`.
        shared.unregister(&caller.account, conn.id);
    }
    // The socket closes here; what is still queued for this client is lost.
    drop(connection);
    drop(rx);
    shared
        .metrics
        .connections
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    conn.done.cancel();
    if let Some(caller) = caller
        && !shared.config.presence_lag.is_zero()
    {
        forget_after_lag(&shared, &caller.account, conn.id, &shutdown).await;
    }
}

/// Takes an ended connection out of presence, `presence_lag` late (`--presence-lag`:
/// what a deployment with a separate presence service does). Until then the account
/// counts as online on that device, and what is sent to it is lost.
async fn forget_after_lag(
    shared: &Shared,
    account: &str,
    conn_id: u64,
    shutdown: &CancellationToken,
) {
    if fault!(shared, PresenceNever) {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(shared.config.presence_lag) => {}
        _ = shutdown.cancelled() => {}
    }
    shared.unregister(account, conn_id);
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    async fn run(&mut self, rx: &mut mpsc::Receiver<Outbound>, shutdown: &CancellationToken) {
        // `kill` is a child of `shutdown`, so this one future watches both. It is made
        // once: a cancellation future created on every turn of the loop costs a lock and
        // a waiter-list insert and removal per frame.
        let kill = self.conn.kill.clone();
        let stopped = kill.cancelled();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => {
                    let (code, reason) = stop_reason(shutdown);
                    self.close(code, reason).await;
                    return;
                }
                Some(first) = rx.recv() => {
                    // A client that does not read blocks this write: stay responsive to
                    // the kill and shutdown signals meanwhile.
                    let written = tokio::select! {
                        r = self.write_queued(first, rx) => r,
                        _ = &mut stopped => Err(None),
                    };
                    match written {
                        Ok(()) => {}
                        Err(Some(code)) => {
                            self.close(code, "").await;
                            return;
                        }
                        Err(None) => {
                            if kill.is_cancelled() && !shutdown.is_cancelled() {
                                self.close(close_code::POLICY, "slow consumer").await;
                            }
                            return;
                        }
                    }
                }
                message = self.ws.next() => {
                    let mut flow = self.on_message(message).await;
                    // Answer every request that is already here before writing: their
                    // replies wait in the queue and leave in one write (one syscall)
                    // instead of one each.
                    let mut batch = 1;
                    while matches!(flow, Flow::Continue) && batch < READ_BATCH {
                        let Some(message) = self.ws.next().now_or_never() else {
                            break;
                        };
                        flow = self.on_message(message).await;
                        batch += 1;
                    }
                    match flow {
                        Flow::Continue => {}
                        Flow::End => return,
                        Flow::PeerClosed => {
                            self.leave_presence();
                            if !fault!(self.shared, NoCloseReply) {
                                // Writes the Close reply tungstenite queued on reading
                                // the client's Close; the TCP connection ends after it.
                                let _ = tokio::time::timeout(CLOSE_WAIT, self.ws.flush()).await;
                            }
                            return;
                        }
                        Flow::CloseAfterFlush(code, reason) => {
                            while let Ok(out) = rx.try_recv() {
                                if let Err(Some(_)) | Err(None) = self.write_queued(out, rx).await {
                                    break;
                                }
                            }
                            self.close(code, reason).await;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// One message (or the end of the stream) from the client.
    async fn on_message(&mut self, message: Option<Result<Message, WsError>>) -> Flow {
        match message {
            Some(Ok(Message::Text(text))) => match self.wire.inbound(&text) {
                wire::Inbound::Native(native) => self.on_text(&native).await,
                wire::Inbound::Ignore => Flow::Continue,
            },
            Some(Ok(Message::Binary(_))) => Flow::CloseAfterFlush(
                close_code::UNSUPPORTED_DATA,
                "binary frames are not supported",
            ),
            Some(Ok(Message::Close(_))) => Flow::PeerClosed,
            None => Flow::End,
            Some(Ok(_)) => Flow::Continue,
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { .. }))) => {
                Flow::CloseAfterFlush(close_code::TOO_BIG, "message too big")
            }
            Some(Err(e)) => {
                tracing::debug!(conn = self.conn.id, error = %e, "read failed");
                Flow::End
            }
        }
    }

    /// Writes `first` and everything else already queued, then flushes once.
    /// `Err(Some(code))`: close with that code; `Err(None)`: the socket failed.
    async fn write_queued(
        &mut self,
        first: Outbound,
        rx: &mut mpsc::Receiver<Outbound>,
    ) -> Result<(), Option<u16>> {
        let mut next = Some(first);
        while let Some(out) = next {
            match out {
                Outbound::Text(text) => {
                    let text = match self.wire.outbound(&text) {
                        Some(translated) => translated.into(),
                        None => text,
                    };
                    self.ws.feed(Message::Text(text)).await.map_err(|_| None)?
                }
                Outbound::Kicked => {
                    let text = Push::Kicked {
                        reason: KICK_LOGIN_ELSEWHERE,
                    }
                    .to_text();
                    let text = self.wire.outbound(&text).unwrap_or(text);
                    self.ws.feed(Message::text(text)).await.map_err(|_| None)?;
                    return Err(Some(close_code::KICKED));
                }
            }
            next = rx.try_recv().ok();
        }
        self.ws.flush().await.map_err(|_| None)
    }

    /// The server's side of the closing handshake: send a Close frame with `code`, then
    /// read (and drop) what the client still sends until its Close reply, so that the
    /// TCP connection ends cleanly rather than with a reset (RFC 6455 §7.1.1).
    async fn close(&mut self, code: u16, reason: &'static str) {
        self.leave_presence();
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            if self.ws.close(Some(frame)).await.is_ok() {
                while let Some(Ok(_)) = self.ws.next().await {}
            }
        })
        .await;
    }

    /// Without a presence lag, the device goes offline before its Close frame leaves:
    /// a client that saw the close finds the account offline. (With a lag, [`serve`]
    /// takes it out of presence later.)
    fn leave_presence(&mut self) {
        if !self.shared.config.presence_lag.is_zero() || fault!(self.shared, PresenceNever) {
            return;
        }
        if let Some(caller) = self.caller.take() {
            self.shared.unregister(&caller.account, self.conn.id);
        }
    }

    fn reply(&self, text: String) {
        self.conn
            .send(Outbound::Text(text.into()), &self.shared.metrics);
    }

    fn reply_error(&self, op: Option<Op>, id: Option<u64>, code: Code, why: &str) {
        self.shared.metrics.op(op, code);
        self.reply(error_response(id, code, why));
    }

    /// One text frame, checked in the order of §P-2.6.
    async fn on_text(&mut self, text: &str) -> Flow {
        if fault!(self.shared, Slow50ms) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let value = match parse_json(text) {
            Ok(value) => value,
            Err(e) => {
                self.shared.metrics.op(None, Code::BadFrame);
                self.reply(e.to_response());
                return Flow::Continue;
            }
        };
        if let Some(rate) = &mut self.rate
            && !rate.allow()
        {
            let id = value.get("id").and_then(serde_json::Value::as_u64);
            self.shared.metrics.op(None, Code::RateLimited);
            self.reply(code_response(id, Code::RateLimited));
            return Flow::Continue;
        }
        let frame = match parse_request(value) {
            Ok(frame) => frame,
            Err(e) => {
                let code = match e {
                    FrameError::BadFrame { .. } => Code::BadFrame,
                    FrameError::UnknownOp { .. } => Code::UnknownOp,
                };
                self.shared.metrics.op(None, code);
                self.reply(e.to_response());
                return Flow::Continue;
            }
        };
        let (id, op) = (frame.id, frame.op);
        match (&self.caller, op) {
            (None, Op::Login) => {}
            (None, _) => {
                self.shared.metrics.op(Some(op), Code::NotLoggedIn);
                self.reply(response::<()>(id, Code::NotLoggedIn, None));
                return Flow::Continue;
            }
            (Some(_), Op::Login) => {
                self.reply_error(
                    Some(op),
                    Some(id),
                    Code::ParamError,
                    "already logged in on this connection",
                );
                return Flow::Continue;
            }
            (Some(_), _) => {}
        }
        let request = match Request::parse(op, &frame.params) {
            Ok(request) => request,
            Err(e) => {
                self.reply_error(Some(op), Some(id), Code::ParamError, &e.to_string());
                return Flow::Continue;
            }
        };
        match (request, &self.caller) {
            (Request::Login(login), _) => match self.shared.login(id, login, &self.conn) {
                LoginOutcome::AuthFailed => {
                    self.shared.metrics.op(Some(op), Code::AuthFailed);
                    Flow::CloseAfterFlush(close_code::POLICY, "authentication failed")
                }
                LoginOutcome::LoggedIn { caller, kicked } => {
                    self.caller = Some(caller);
                    if let Some(done) = kicked {
                        // §P-3.5: the old connection's close goes out before our response.
                        let _ = tokio::time::timeout(KICK_WAIT, done.cancelled()).await;
                    }
                    Flow::Continue
                }
            },
            (request, Some(caller)) => {
                let reply = self.shared.execute(caller, request);
                self.shared.metrics.op(Some(op), reply.code);
                self.reply(response(id, reply.code, reply.data));
                Flow::Continue
            }
            // Unreachable: a logged-out connection only gets this far with a login.
            (_, None) => Flow::Continue,
        }
    }
}
