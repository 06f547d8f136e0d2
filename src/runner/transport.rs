//! The byte stream under one harness connection: TCP for `ws://`, TLS over TCP for
//! `wss://`.
//!
//! A harness holds one connection per simulated device for the whole run, most of them
//! idle, and its connection task keeps the stream inline. tokio-tungstenite's
//! `MaybeTlsStream` is an enum as large as its rustls variant (about 1.1 KiB) even for a
//! plain connection; here the TLS state is boxed, so a `ws://` connection costs the 32
//! bytes of its `TcpStream` (docs/performance.md, "Issue 16, second pass").

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

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
}
