//! The accept loop and the HTTP side of the port: `GET /healthz`, `GET /metrics`, and
//! the WebSocket upgrade on `/` (done here so that one port serves all three).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection;
use super::state::Shared;

/// Largest HTTP request head we read.
const MAX_HEAD: usize = 8 * 1024;
/// A client must finish its HTTP request head within this time.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

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
            Ok((stream, _peer)) => {
                backoff = Duration::from_millis(1);
                let _ = stream.set_nodelay(true);
                tracker.spawn(handle(stream, shared.clone(), shutdown.clone()));
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

/// Small buffers: an idle connection must cost kilobytes, not the 128 KiB defaults.
fn ws_config(max_frame: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame))
}

async fn handle(mut stream: TcpStream, shared: Arc<Shared>, shutdown: CancellationToken) {
    let head = tokio::select! {
        _ = shutdown.cancelled() => return,
        head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)) => head,
    };
    let Ok(Ok((buf, head_len))) = head else {
        return;
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(&buf), Ok(httparse::Status::Complete(_))) {
        return respond(
            &mut stream,
            "400 Bad Request",
            "text/plain",
            "bad request\n",
        )
        .await;
    }
    let path = req.path.unwrap_or("/").split('?').next().unwrap_or("/");
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    if req.method != Some("GET") {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        )
        .await;
    }
    match path {
        "/healthz" => respond(&mut stream, "200 OK", "text/plain", "ok").await,
        "/metrics" => {
            let body = shared.metrics.render();
            respond(&mut stream, "200 OK", "text/plain; version=0.0.4", &body).await;
        }
        "/" => {
            let is_upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
            let (Some(key), true) = (header("sec-websocket-key"), is_upgrade) else {
                return respond(
                    &mut stream,
                    "426 Upgrade Required",
                    "text/plain",
                    "this endpoint speaks WebSocket\n",
                )
                .await;
            };
            if header("sec-websocket-version").as_deref() != Some("13") {
                let reply = "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = stream.write_all(reply.as_bytes()).await;
                return;
            }
            let accept = derive_accept_key(key.trim().as_bytes());
            let reply = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            if stream.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
            let rest = buf[head_len..].to_vec();
            let ws = WebSocketStream::from_partially_read(
                stream,
                rest,
                Role::Server,
                Some(ws_config(shared.config.max_frame)),
            )
            .await;
            connection::serve(ws, shared, shutdown).await;
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n").await,
    }
}

/// Reads until a complete HTTP request head; returns the bytes and the head's length.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, usize)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        match httparse::Request::new(&mut headers).parse(&buf) {
            Ok(httparse::Status::Complete(len)) => return Ok((buf, len)),
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return Err(std::io::ErrorKind::InvalidData.into()),
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}
