//! The byte stream under one harness connection: TCP for `ws://`, TLS over TCP for
//! `wss://`.
//!
//! A harness holds one connection per simulated device for the whole run, most of them
//! idle, and its connection task keeps the stream inline. tokio-tungstenite's
//! `MaybeTlsStream` is an enum as large as its rustls variant (about 1.1 KiB) even for a
//! plain connection; here the TLS state is boxed, so a `ws://` connection costs the 32
//! bytes of its `TcpStream` (docs/performance.md, "Issue 16, second pass").
//!
//! [`upgrade`] runs tungstenite's client handshake over it so that the connection's read
//! buffer is the size the configuration asks for (tungstenite would keep the 4 KiB buffer
//! its handshake read into).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// How a `wss://` target is reached: the run's TLS configuration and the name its
/// certificate must carry.
#[derive(Clone)]
pub struct TlsTarget {
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
}

impl TlsTarget {
    /// `host` as the URL gives it (an IPv6 address in brackets, a DNS name, an IPv4
    /// address); `Err` says why it cannot name a TLS server.
    pub fn new(connector: TlsConnector, host: &str) -> Result<TlsTarget, String> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(bare.to_owned())
            .map_err(|e| format!("'{host}' cannot name a TLS server: {e}"))?;
        Ok(TlsTarget { connector, name })
    }
}

/// One connection's stream.
pub enum Transport {
    Plain(TcpStream),
    /// Boxed: see the module docs.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    /// `tcp` as it is, or after a TLS handshake when `tls` is given.
    pub async fn open(tcp: TcpStream, tls: Option<&TlsTarget>) -> io::Result<Transport> {
        match tls {
            None => Ok(Transport::Plain(tcp)),
            Some(tls) => {
                let stream = tls.connector.connect(tls.name.clone(), tcp).await?;
                Ok(Transport::Tls(Box::new(stream)))
            }
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Plain(s) => s.is_write_vectored(),
            Transport::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Headers a handshake answer may have: tungstenite's own limit, so that every answer
/// its handshake accepted parses here too.
const MAX_HEADERS: usize = 124;

/// The WebSocket upgrade over `stream`: tungstenite's client handshake (request, answer
/// and its checks), then the connection, with a read buffer of `config`'s size.
///
/// tungstenite hands the 4 KiB buffer its handshake read the answer into over to the
/// connection as its read buffer, whatever `read_buffer_size` says, and an idle connection
/// keeps it for good. So the handshake runs over a stream that keeps a copy of what it
/// read, and the connection is made anew from the stream and the bytes that came after
/// the answer (frames the server sent right away): nothing read is lost.
pub async fn upgrade(
    request: Request,
    stream: Transport,
    config: WebSocketConfig,
) -> Result<WebSocketStream<Transport>, String> {
    let recorded = Recorded {
        inner: stream,
        seen: Vec::new(),
    };
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, recorded, Some(config))
        .await
        .map_err(|e| e.to_string())?;
    let Recorded { inner, seen } = ws.into_inner();
    let after = after_answer(&seen)?.to_vec();
    Ok(WebSocketStream::from_partially_read(inner, after, Role::Client, Some(config)).await)
}

/// What followed the HTTP answer in `seen` (everything the handshake read).
fn after_answer(seen: &[u8]) -> Result<&[u8], String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::Response::new(&mut headers).parse(seen) {
        Ok(httparse::Status::Complete(end)) => Ok(&seen[end..]),
        // The handshake accepted this answer: it is complete and parses.
        Ok(httparse::Status::Partial) => {
            Err("the handshake answer ended early (harness error)".into())
        }
        Err(e) => Err(format!("the handshake answer does not parse: {e}")),
    }
}

/// A stream that keeps a copy of what was read from it (the handshake's answer).
struct Recorded {
    inner: Transport,
    /// Every byte read so far.
    seen: Vec<u8>,
}

impl AsyncRead for Recorded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.seen.extend_from_slice(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Recorded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_connection_does_not_carry_the_tls_state() {
        assert!(std::mem::size_of::<Transport>() <= std::mem::size_of::<TcpStream>() + 8);
    }

    #[test]
    fn server_names_accept_what_a_url_holds() {
        let connector = TlsConnector::from(std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        ));
        for host in ["example.com", "127.0.0.1", "[::1]"] {
            assert!(TlsTarget::new(connector.clone(), host).is_ok(), "{host}");
        }
        let e = TlsTarget::new(connector, "bad_name!")
            .err()
            .expect("refused");
        assert!(e.contains("'bad_name!'"), "{e}");
    }

    #[test]
    fn what_follows_the_answer_is_kept() {
        let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        let mut seen = answer.to_vec();
        assert_eq!(after_answer(&seen).unwrap(), b"");
        seen.extend_from_slice(b"\x81\x02hi");
        assert_eq!(after_answer(&seen).unwrap(), b"\x81\x02hi");
        assert!(after_answer(b"HTTP/1.1 101 Switching").is_err());
    }

    /// A server that sends a frame in the same write as its handshake answer: the frame
    /// is read by the connection, not lost with the handshake's buffer.
    #[tokio::test]
    async fn a_frame_sent_with_the_answer_is_received() {
        use futures_util::StreamExt;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") {
                socket.read_exact(&mut byte).await.unwrap();
                request.push(byte[0]);
            }
            let text = String::from_utf8(request).unwrap();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .or_else(|| {
                    text.lines()
                        .find_map(|l| l.strip_prefix("sec-websocket-key: "))
                })
                .unwrap();
            let mut answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.trim().as_bytes())
            )
            .into_bytes();
            answer.extend_from_slice(b"\x81\x05hello");
            socket.write_all(&answer).await.unwrap();
            socket
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!("ws://{addr}/").into_client_request().unwrap();
        let config = WebSocketConfig::default().read_buffer_size(2048);
        let mut ws = upgrade(request, Transport::Plain(tcp), config)
            .await
            .unwrap();
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("the frame sent with the answer was lost")
            .unwrap()
            .unwrap();
        assert_eq!(first.into_text().unwrap().as_str(), "hello");
        drop(server.await.unwrap());
    }
}
