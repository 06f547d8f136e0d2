//! A minimal WebSocket echo server: the physical ceiling of this stack (tokio +
//! tokio-tungstenite over TCP) on a given machine, for issue 6's server target. It does
//! what `sigbench serve` does for every frame except the protocol work — the same
//! runtime, the same WebSocket buffer settings (2 KiB read buffer, 8 KiB write buffer,
//! 64 KiB message limit), `TCP_NODELAY`, and the same write batching (everything ready
//! is written, then one flush) — and sends each text frame straight back.
//!
//! Usage: `cargo run --release --features bench-tools --example echo [ADDR]`
//! (default `127.0.0.1:0`); prints `listening on ws://ADDR/` once bound.

use std::net::SocketAddr;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The reference server's settings (src/server/listener.rs).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

async fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config())).await
    else {
        return;
    };
    while let Some(Ok(first)) = ws.next().await {
        let mut next = Some(first);
        // Echo every frame that is already here, then flush once.
        while let Some(message) = next {
            let echoed = match message {
                Message::Close(_) => return,
                Message::Text(_) | Message::Binary(_) => ws.feed(message).await,
                _ => Ok(()),
            };
            if echoed.is_err() {
                return;
            }
            next = match ws.next().now_or_never() {
                Some(Some(Ok(message))) => Some(message),
                Some(Some(Err(_)) | None) => return,
                None => None,
            };
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let listener = TcpListener::bind(addr).await?;
    println!("listening on ws://{}/", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream));
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
