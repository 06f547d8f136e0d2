//! One task per WebSocket connection: reads requests, runs them, and writes every frame
//! meant for this client — its own responses and other connections' pushes — in the
//! order they were produced (§P-1.5), within one bound in bytes. Other tasks queue
//! frames through the connection's [`ConnHandle`]; the connection's own replies skip that
//! queue (no semaphore, no wake-up of itself) and wait in [`Connection::out`] behind
//! whatever the queue held when they were produced.
//!
//! Every wait has a deadline: the login (from the upgrade), silence from the client (a
//! ping after half the idle timeout, a close after all of it), each write, and the
//! closing handshake. Every frame is charged to the connection's read budget before it
//! is parsed; a connection in debt is not read until the budget refills.

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
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use super::admission::LoginPermit;
use super::budget::Budget;
use super::metrics::Metrics;
use super::ops::Caller;
use super::session::LoginOutcome;
use super::state::Shared;
use super::state::presence::{ConnHandle, StopReason};
use super::wire::{self, WireState};
use crate::protocol::frame::{
    Push, code_response, error_response, parse_json, parse_request, response,
};
use crate::protocol::json::Json;
use crate::protocol::model::{KICK_LOGIN_ELSEWHERE, close_code};
use crate::protocol::{Code, FrameError, Op, Request};

/// How long a kicked connection may take to flush, send `kicked` and close: then it is
/// dropped, so that the new login is answered at once (§P-3.5).
const KICK_DEADLINE: Duration = Duration::from_millis(250);
/// The most a new login waits for the connection it kicked to be gone.
const KICK_WAIT: Duration = Duration::from_secs(2);
/// How long a closing handshake may take on a client that does not read.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// RFC 6455 close code: protocol error.
const PROTOCOL_ERROR: u16 = 1002;
/// RFC 6455 close code: invalid payload data (text that is not UTF-8).
const INVALID_PAYLOAD: u16 = 1007;

/// Requests handled from one read before the replies are written. Each request queues
/// at most a few frames for this client, so a batch stays far below the queue's bound.
const READ_BATCH: usize = 64;

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
    /// Refill rate and capacity.
    per_second: f64,
    /// Tokens left.
    tokens: f64,
    /// When `tokens` was last refilled.
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
    /// The client's socket.
    ws: WebSocketStream<S>,
    /// The server's state.
    shared: Arc<Shared>,
    /// This connection as other tasks see it (its queue's sending side, kill token).
    conn: ConnHandle,
    /// The queue's receiving end: other connections' pushes, and the login's frames.
    rx: mpsc::Receiver<Utf8Bytes>,
    /// Frames waiting for the next write, in the order they were produced: this
    /// connection's replies, each behind what the queue held when it was made.
    out: Vec<Utf8Bytes>,
    /// Bytes in `out` taken off the queue: they count in its bound until written.
    out_queued: usize,
    /// Bytes of this connection's own replies in `out`, counted against the same bound.
    out_own: usize,
    /// Who logged in on this connection, once someone has.
    caller: Option<Caller>,
    /// The protocol's request rate limit (416), when configured.
    rate: Option<RateLimit>,
    /// The read budget, charged before parsing.
    budget: Budget,
    /// Holds a place among the connections not yet logged in; dropped at login.
    login_permit: Option<LoginPermit>,
    /// When the client must have logged in.
    login_deadline: Instant,
    /// When the last frame (of any kind) came from the client.
    last_heard: Instant,
    /// A ping went out since `last_heard`.
    pinged: bool,
    /// While in debt: when reading may resume.
    throttled_until: Option<Instant>,
    /// Translates the framing of `serve --wire` to and from the native one.
    wire: WireState,
}

/// Serves one upgraded connection until it closes, is kicked, is too slow, misses a
/// deadline, or the server shuts down.
pub(crate) async fn serve<S>(
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    login_permit: LoginPermit,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (conn, rx) = ConnHandle::new(shared.next_id(), shared.config.max_queue, &shutdown);
    Metrics::add(&shared.metrics.connections_total, 1);
    shared
        .metrics
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = Instant::now();
    let mut connection = Connection {
        ws,
        shared: shared.clone(),
        conn: conn.clone(),
        rx,
        out: Vec::new(),
        out_queued: 0,
        out_own: 0,
        caller: None,
        rate: shared.config.rate_limit.map(RateLimit::new),
        budget: Budget::new(&shared.config.read_budget, shared.config.max_frame, now),
        login_permit: Some(login_permit),
        login_deadline: now + shared.config.timeouts.login,
        last_heard: now,
        pinged: false,
        throttled_until: None,
        wire: WireState::new(shared.config.wire),
    };
    connection.run().await;
    let caller = connection.caller.take();
    if shared.config.presence_lag.is_zero()
        && !fault!(shared, PresenceNever)
        && let Some(caller) = &caller
    {
        // Before the socket closes: see `Connection::leave_presence`.
        shared.logout(caller);
    }
    // The socket closes here; what is still queued for this client is lost.
    drop(connection);
    shared
        .metrics
        .connections
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    conn.done.cancel();
    if let Some(caller) = caller
        && !shared.config.presence_lag.is_zero()
    {
        forget_after_lag(&shared, &caller, &shutdown).await;
    }
}

/// Takes an ended connection out of presence, `presence_lag` late (`--presence-lag`:
/// what a deployment with a separate presence service does). Until then the account
/// counts as online on that device, and what is sent to it is lost.
async fn forget_after_lag(shared: &Shared, caller: &Caller, shutdown: &CancellationToken) {
    if fault!(shared, PresenceNever) {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(shared.config.presence_lag) => {}
        _ = shutdown.cancelled() => {}
    }
    shared.logout(caller);
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Every idle connection pays for the size of its task's future, which is that of its
    /// largest state: the rare paths (closing, being stopped, pings, kick waits) are
    /// boxed, so that their timers and frames take heap only while they run.
    async fn run(&mut self) {
        // `kill` is a child of the server's shutdown token, so this one future watches
        // both. It is made once: a cancellation future created on every turn of the loop
        // costs a lock and a waiter-list insert and removal per frame.
        let kill = self.conn.kill.clone();
        let stopped = kill.cancelled();
        tokio::pin!(stopped);
        let timer = tokio::time::sleep_until(self.next_wake());
        tokio::pin!(timer);
        loop {
            let reading = self.throttled_until.is_none();
            tokio::select! {
                biased;
                _ = &mut stopped => {
                    Box::pin(self.stopped()).await;
                    return;
                }
                Some(first) = self.rx.recv() => {
                    self.out_queued += first.len();
                    self.out.push(first);
                }
                _ = &mut timer => {
                    if let Some((code, reason)) = Box::pin(self.on_timer()).await {
                        Box::pin(self.close(code, reason)).await;
                        return;
                    }
                    timer.as_mut().reset(self.next_wake());
                }
                message = self.ws.next(), if reading => {
                    // One clock read for every frame of this read: they arrived together.
                    let now = Instant::now();
                    let mut flow = self.on_message(message, now).await;
                    // Answer every request that is already here before writing: their
                    // replies wait in the queue and leave in one write (one syscall)
                    // instead of one each.
                    let mut batch = 1;
                    while matches!(flow, Flow::Continue)
                        && batch < READ_BATCH
                        && self.throttled_until.is_none()
                    {
                        let Some(message) = self.ws.next().now_or_never() else {
                            break;
                        };
                        flow = self.on_message(message, now).await;
                        batch += 1;
                    }
                    if self.throttled_until.is_some() {
                        timer.as_mut().reset(self.next_wake());
                    }
                    match flow {
                        Flow::Continue => {}
                        Flow::End => return,
                        Flow::PeerClosed => {
                            self.leave_presence();
                            if !fault!(self.shared, NoCloseReply) {
                                // Writes the Close reply tungstenite queued on reading
                                // the client's Close; the TCP connection ends after it.
                                let _ = Box::pin(tokio::time::timeout(CLOSE_WAIT, self.ws.flush())).await;
                            }
                            return;
                        }
                        Flow::CloseAfterFlush(code, reason) => {
                            let flush = self.write_out();
                            let _ = Box::pin(tokio::time::timeout(CLOSE_WAIT, flush)).await;
                            Box::pin(self.close(code, reason)).await;
                            return;
                        }
                    }
                }
            }
            if self.out.is_empty() {
                continue;
            }
            // A client that does not read blocks this write: stay responsive to the kill
            // and shutdown signals meanwhile, and give up at the deadline.
            let deadline = self.shared.config.timeouts.write;
            let written = tokio::select! {
                biased;
                _ = &mut stopped => {
                    Box::pin(self.stopped()).await;
                    return;
                }
                r = tokio::time::timeout(deadline, self.write_out()) => r,
            };
            match written {
                Ok(Ok(())) => {}
                Ok(Err(())) => return,
                Err(_) => {
                    self.conn
                        .stop(StopReason::SlowConsumer, &self.shared.metrics);
                    Box::pin(self.close(close_code::POLICY, "slow consumer")).await;
                    return;
                }
            }
        }
    }

    /// The connection was stopped from outside: close as the reason says.
    async fn stopped(&mut self) {
        match self.conn.stop_reason() {
            StopReason::Shutdown => self.close(1001, "server shutting down").await,
            StopReason::SlowConsumer => self.close(close_code::POLICY, "slow consumer").await,
            StopReason::Kicked => {
                // What was queued before the kick, the `kicked` push, then 4001; all of
                // it within a short deadline, since the new login waits for it.
                self.leave_presence();
                let goodbye = async {
                    self.take_queued();
                    self.feed_out().await?;
                    let text = Push::Kicked {
                        reason: KICK_LOGIN_ELSEWHERE,
                    }
                    .to_text();
                    let text = self.wire.outbound(&text).unwrap_or(text);
                    self.ws.feed(Message::text(text)).await.map_err(|_| ())?;
                    let frame = CloseFrame {
                        code: CloseCode::from(close_code::KICKED),
                        reason: "".into(),
                    };
                    self.ws.close(Some(frame)).await.map_err(|_| ())
                };
                let _ = tokio::time::timeout(KICK_DEADLINE, goodbye).await;
            }
        }
    }

    /// The next moment a deadline needs looking at.
    fn next_wake(&self) -> Instant {
        let idle = self.shared.config.timeouts.idle;
        let mut wake = if self.pinged {
            self.last_heard + idle
        } else {
            self.last_heard + idle / 2
        };
        if self.caller.is_none() {
            wake = wake.min(self.login_deadline);
        }
        if let Some(until) = self.throttled_until {
            wake = wake.min(until);
        }
        wake
    }

    /// A deadline may have come: resume reading, ping, or say how to close.
    async fn on_timer(&mut self) -> Option<(u16, &'static str)> {
        let now = Instant::now();
        if self.throttled_until.is_some_and(|until| until <= now) {
            self.throttled_until = None;
        }
        let metrics = &self.shared.metrics;
        if self.caller.is_none() && now >= self.login_deadline {
            Metrics::add(&metrics.login_timeouts, 1);
            return Some((close_code::POLICY, "login timeout"));
        }
        let idle = self.shared.config.timeouts.idle;
        let silence = now.duration_since(self.last_heard);
        if silence >= idle {
            Metrics::add(&metrics.idle_timeouts, 1);
            return Some((close_code::POLICY, "idle timeout"));
        }
        if silence >= idle / 2 && !self.pinged {
            self.pinged = true;
            let ping = self.ws.send(Message::Ping(Default::default()));
            match tokio::time::timeout(self.shared.config.timeouts.write, ping).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Some((close_code::POLICY, "write failed")),
                Err(_) => {
                    self.conn.stop(StopReason::SlowConsumer, metrics);
                    return Some((close_code::POLICY, "slow consumer"));
                }
            }
        }
        None
    }

    /// One message (or the end of the stream) from the client, read at `now`, charged to
    /// the budget before anything else looks at it.
    async fn on_message(
        &mut self,
        message: Option<Result<Message, WsError>>,
        now: Instant,
    ) -> Flow {
        if let Some(Ok(m)) = &message {
            self.last_heard = now;
            self.pinged = false;
            self.budget.charge(m.len(), now);
            if let Some(wait) = self.budget.wait(now) {
                Metrics::add(&self.shared.metrics.reads_throttled, 1);
                self.throttled_until = Some(now + wait);
            }
        }
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
            Some(Err(WsError::Protocol(e))) => {
                tracing::debug!(conn = self.conn.id, error = %e, "protocol error");
                Metrics::add(&self.shared.metrics.protocol_errors, 1);
                Flow::CloseAfterFlush(PROTOCOL_ERROR, "protocol error")
            }
            Some(Err(WsError::Utf8(_))) => {
                Metrics::add(&self.shared.metrics.protocol_errors, 1);
                Flow::CloseAfterFlush(INVALID_PAYLOAD, "text frame is not UTF-8")
            }
            Some(Err(e)) => {
                tracing::debug!(conn = self.conn.id, error = %e, "read failed");
                Flow::End
            }
        }
    }

    /// Moves everything the queue holds now to the end of `out`.
    fn take_queued(&mut self) {
        while let Ok(text) = self.rx.try_recv() {
            self.out_queued += text.len();
            self.out.push(text);
        }
    }

    /// Writes `out` and everything queued meanwhile, then flushes once.
    /// `Err(())`: the socket failed.
    async fn write_out(&mut self) -> Result<(), ()> {
        self.take_queued();
        self.feed_out().await?;
        self.ws.flush().await.map_err(|_| ())
    }

    /// Hands every frame of `out` to the WebSocket (which writes when its buffer fills),
    /// in order, and releases their bytes from the bound.
    /// `out` is taken, not cleared: an idle connection keeps no capacity.
    async fn feed_out(&mut self) -> Result<(), ()> {
        for text in std::mem::take(&mut self.out) {
            let text = match self.wire.outbound(&text) {
                Some(translated) => translated.into(),
                None => text,
            };
            self.ws.feed(Message::Text(text)).await.map_err(|_| ())?;
        }
        // Released once handed over: while a feed waits on a full socket, the frames
        // count (the WebSocket's own buffer is bounded by the write deadline).
        self.conn.taken(std::mem::take(&mut self.out_queued));
        self.out_own = 0;
        Ok(())
    }

    /// The server's side of the closing handshake: send a Close frame with `code`, then
    /// read (and drop) what the client still sends until its Close reply, so that the
    /// TCP connection ends cleanly rather than with a reset (RFC 6455 §7.1.1). Bounded
    /// by [`CLOSE_WAIT`].
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
            self.shared.logout(&caller);
        }
    }

    /// Queues a reply to this connection's own request behind everything queued before
    /// it. Past the queue's byte bound the client counts as a slow consumer, as for a push.
    fn reply(&mut self, text: String) {
        self.take_queued();
        let len = text.len();
        if !self.conn.fits(self.out_own + len) {
            self.conn
                .stop(StopReason::SlowConsumer, &self.shared.metrics);
            return;
        }
        self.out_own += len;
        self.out.push(text.into());
    }

    fn reply_error(&mut self, op: Option<Op>, id: Option<u64>, code: Code, why: &str) {
        self.shared.metrics.op(op, code);
        self.reply(error_response(id, code, why));
    }

    /// One text frame, checked in the order of §P-2.6.
    async fn on_text(&mut self, text: &str) -> Flow {
        if fault!(self.shared, Slow50ms) {
            Box::pin(tokio::time::sleep(Duration::from_millis(50))).await;
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
            let id = value.get("id").and_then(Json::as_u64);
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
                    self.login_permit = None;
                    if let Some(done) = kicked {
                        // §P-3.5: the old connection's close goes out before our response.
                        let _ = Box::pin(tokio::time::timeout(KICK_WAIT, done.cancelled())).await;
                    }
                    Flow::Continue
                }
            },
            (request, Some(caller)) => {
                let reply = self.shared.execute(caller, request);
                self.shared.metrics.op(Some(op), reply.code);
                self.reply(reply.into_text(id));
                Flow::Continue
            }
            // Unreachable: a logged-out connection only gets this far with a login.
            (_, None) => Flow::Continue,
        }
    }
}
