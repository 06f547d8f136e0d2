//! The accept loop and the HTTP side of the port: `GET`/`HEAD` `/healthz` and
//! `/metrics`, and the WebSocket upgrade on `/` (done here so that one port serves all
//! three). Connections past an admission bound get HTTP 503; a request head that is not
//! HTTP gets 400, one that is too large or has too many headers 431.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::Refused;
use super::connection;
use super::metrics::Metrics;
use super::state::Shared;

/// Largest HTTP request head we read.
const MAX_HEAD: usize = 8 * 1024;
/// Most headers in a request head.
const MAX_HEADERS: usize = 64;
/// A client must finish its HTTP request head within this time.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing an HTTP answer may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts connections until `shutdown`; each gets its own task on `tracker`.
pub(crate) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let mut backoff = Duration::from_millis(1);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(1);
                let _ = stream.set_nodelay(true);
                match shared.admission.connect(peer.ip()) {
                    Ok(permit) => {
                        let (shared, shutdown) = (shared.clone(), shutdown.clone());
                        tracker.spawn(async move {
                            handle(stream, shared, shutdown).await;
                            drop(permit);
                        });
                    }
                    Err(refused) => {
                        Metrics::add(&shared.metrics.connections_refused, 1);
                        tracker.spawn(refuse(stream, refused));
                    }
                }
            }
            Err(e) => {
                // Usually out of file descriptors: wait for some to free up.
                tracing::warn!(error = %e, "accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Small buffers: an idle connection must cost kilobytes, not the 128 KiB defaults. The
/// read buffer (2 KiB, filled on every read) holds a pipelined burst of 16 requests in
/// one read; a larger frame makes it grow for as long as it takes.
fn ws_config(max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame))
}

/// Answers 503 to a connection over an admission bound, without reading its request.
async fn refuse(mut stream: TcpStream, refused: Refused) {
    let body = format!("{}\n", refused.reason());
    let answer =
        Answer::new("503 Service Unavailable", "text/plain", &body).header("Retry-After: 1");
    answer.send(&mut stream, false).await;
}

/// Why a request head could not be read.
enum HeadError {
    /// Not HTTP: 400.
    Garbage,
    /// Over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] headers: 431.
    TooLarge,
    /// The client went away or was too slow: nothing to answer.
    Gone,
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>, shutdown: CancellationToken) {
    let head = tokio::select! {
        _ = shutdown.cancelled() => return,
        head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)) => head,
    };
    let (buf, head_len) = match head {
        Ok(Ok(head)) => head,
        Ok(Err(HeadError::Garbage)) => {
            return Answer::new("400 Bad Request", "text/plain", "bad request\n")
                .send(&mut stream, false)
                .await;
        }
        Ok(Err(HeadError::TooLarge)) => {
            return Answer::new(
                "431 Request Header Fields Too Large",
                "text/plain",
                "request head too large\n",
            )
            .send(&mut stream, false)
            .await;
        }
        Ok(Err(HeadError::Gone)) | Err(_) => return,
    };
    // Decided without awaiting anything, so that neither the head's bytes nor its parsed
    // headers (2 KiB) stay in this task for the lifetime of the connection.
    match route(buf, head_len, &shared) {
        Route::Upgrade { key, rest } => upgrade(stream, key, rest, shared, shutdown).await,
        Route::Answer { answer, head_only } => answer.send(&mut stream, head_only).await,
    }
}

/// What a complete request head asks for.
enum Route {
    /// A WebSocket upgrade on `/`: its key, and what the client sent after the head.
    Upgrade { key: String, rest: Vec<u8> },
    /// An HTTP answer (only its head for a `HEAD` request).
    Answer { answer: Answer, head_only: bool },
}

/// Reads the request head in `buf` (`head_len` bytes of it) and decides the answer.
fn route(buf: Vec<u8>, head_len: usize, shared: &Shared) -> Route {
    let answer = |answer: Answer| Route::Answer {
        answer,
        head_only: false,
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(&buf), Ok(httparse::Status::Complete(_))) {
        return answer(Answer::new(
            "400 Bad Request",
            "text/plain",
            "bad request\n",
        ));
    }
    let path = req.path.unwrap_or("/").split('?').next().unwrap_or("/");
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let head_only = match req.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => {
            return answer(
                Answer::new("405 Method Not Allowed", "text/plain", "GET or HEAD only\n")
                    .header("Allow: GET, HEAD"),
            );
        }
    };
    let answer = match path {
        "/healthz" => Answer::new("200 OK", "text/plain", "ok"),
        "/metrics" => Answer::new(
            "200 OK",
            "text/plain; version=0.0.4",
            &shared.render_metrics(),
        ),
        "/" => {
            let is_upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
            match (header("sec-websocket-key"), is_upgrade, head_only) {
                (Some(key), true, false) => {
                    if header("sec-websocket-version").as_deref() != Some("13") {
                        Answer::new("426 Upgrade Required", "text/plain", "")
                            .header("Sec-WebSocket-Version: 13")
                    } else {
                        let rest = buf[head_len..].to_vec();
                        return Route::Upgrade { key, rest };
                    }
                }
                _ => Answer::new(
                    "426 Upgrade Required",
                    "text/plain",
                    "this endpoint speaks WebSocket\n",
                ),
            }
        }
        _ => Answer::new("404 Not Found", "text/plain", "not found\n"),
    };
    Route::Answer { answer, head_only }
}

/// Completes the WebSocket handshake and serves the connection, if a place among the
/// connections not yet logged in is free (else 503).
async fn upgrade(
    mut stream: TcpStream,
    key: String,
    rest: Vec<u8>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) {
    let permit = match shared.admission.upgrade() {
        Ok(permit) => permit,
        Err(refused) => {
            Metrics::add(&shared.metrics.connections_refused, 1);
            return refuse(stream, refused).await;
        }
    };
    if !switch_protocols(&mut stream, key).await {
        return;
    }
    let ws = WebSocketStream::from_partially_read(
        stream,
        rest,
        Role::Server,
        Some(ws_config(shared.config.max_frame)),
    )
    .await;
    connection::serve(ws, shared, shutdown, permit).await;
}

/// Writes the 101 answer to an upgrade with this `Sec-WebSocket-Key`; false when the
/// client went away or did not take it in time.
async fn switch_protocols(stream: &mut TcpStream, key: String) -> bool {
    let accept = derive_accept_key(key.trim().as_bytes());
    let reply = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    matches!(
        tokio::time::timeout(ANSWER_TIMEOUT, stream.write_all(reply.as_bytes())).await,
        Ok(Ok(()))
    )
}

/// Reads until a complete HTTP request head; returns the bytes and the head's length.
async fn read_head(stream: &mut TcpStream) -> Result<(Vec<u8>, usize), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Gone)?;
        if n == 0 {
            return Err(HeadError::Gone);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::Request::new(&mut headers).parse(&buf) {
            Ok(httparse::Status::Complete(len)) => return Ok((buf, len)),
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::TooLarge);
            }
            Err(_) => return Err(HeadError::Garbage),
        }
    }
}

/// An HTTP answer; the connection is closed after it.
struct Answer {
    /// Status line after `HTTP/1.1 `.
    status: &'static str,
    content_type: &'static str,
    /// Further header lines.
    extra: Vec<&'static str>,
    body: String,
}

impl Answer {
    fn new(status: &'static str, content_type: &'static str, body: &str) -> Answer {
        Answer {
            status,
            content_type,
            extra: Vec::new(),
            body: body.to_string(),
        }
    }

    fn header(mut self, line: &'static str) -> Answer {
        self.extra.push(line);
        self
    }

    /// Writes the answer (only its head for a `HEAD` request) and shuts the socket.
    async fn send(self, stream: &mut TcpStream, head_only: bool) {
        let mut reply = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        for line in &self.extra {
            reply.push_str(line);
            reply.push_str("\r\n");
        }
        reply.push_str("\r\n");
        if !head_only {
            reply.push_str(&self.body);
        }
        let write = async {
            stream.write_all(reply.as_bytes()).await?;
            stream.shutdown().await
        };
        let _ = tokio::time::timeout(ANSWER_TIMEOUT, write).await;
    }
}
