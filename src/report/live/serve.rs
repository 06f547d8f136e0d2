//! The `--metrics-listen` endpoint: a minimal HTTP/1.1 server for scrapers. `GET
//! /metrics` answers the newest [`LiveFrame`] as Prometheus text (OpenMetrics when the
//! `Accept` header asks for it); anything else gets 404 or 405. One request per
//! connection, a few connections at once, a deadline on every read and write, and a
//! bounded request head, so a slow or hostile client cannot hold the run up.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{LiveFrame, prometheus};

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 16;
/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// Deadline for reading the request and for writing the answer.
const IO_DEADLINE: Duration = Duration::from_secs(5);

/// Serves until `stop`; then waits for the requests in progress (each bounded by
/// [`IO_DEADLINE`]).
pub async fn serve(
    listener: Arc<TcpListener>,
    frames: watch::Receiver<Option<Arc<LiveFrame>>>,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let tracker = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let frames = frames.clone();
                tracker.spawn(async move {
                    let _ = handle(stream, &frames).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!("--metrics-listen: accept failed: {e}");
                // Out of file descriptors and the like: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tracker.close();
    tracker.wait().await;
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics { openmetrics: bool, head_only: bool },
    NotFound,
    BadMethod,
    Bad,
}

fn parse(head: &[u8]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some(Request::Bad),
    }
    let head_only = match request.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Some(Request::BadMethod),
    };
    let path = request.path.unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path);
    if path != "/metrics" && path != "/" {
        return Some(Request::NotFound);
    }
    let openmetrics = request.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("accept")
            && String::from_utf8_lossy(h.value).contains("application/openmetrics-text")
    });
    Some(Request::Metrics {
        openmetrics,
        head_only,
    })
}

async fn handle(
    mut stream: TcpStream,
    frames: &watch::Receiver<Option<Arc<LiveFrame>>>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let request = loop {
        let n = match tokio::time::timeout(IO_DEADLINE, stream.read(&mut buf)).await {
            Ok(read) => read?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(request) = parse(&head) {
            break request;
        }
        if head.len() >= MAX_HEAD {
            break Request::Bad;
        }
    };
    let (status, content_type, body, head_only) = match request {
        Request::Metrics {
            openmetrics,
            head_only,
        } => {
            let frame = frames.borrow().clone();
            match frame {
                Some(frame) => (
                    "200 OK",
                    prometheus::content_type(openmetrics),
                    prometheus::render(&frame, openmetrics),
                    head_only,
                ),
                None => (
                    "503 Service Unavailable",
                    "text/plain; charset=utf-8",
                    "no data yet\n".to_owned(),
                    head_only,
                ),
            }
        }
        Request::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "sigbench serves /metrics\n".to_owned(),
            false,
        ),
        Request::BadMethod => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET /metrics\n".to_owned(),
            false,
        ),
        Request::Bad => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".to_owned(),
            false,
        ),
    };
    let mut answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        answer.extend_from_slice(body.as_bytes());
    }
    match tokio::time::timeout(IO_DEADLINE, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await
    {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed() {
        let get = |head: &str| parse(head.as_bytes());
        assert_eq!(
            get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Request::Metrics {
                openmetrics: false,
                head_only: false
            })
        );
        assert_eq!(
            get(
                "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n"
            ),
            Some(Request::Metrics {
                openmetrics: true,
                head_only: false
            })
        );
        assert_eq!(get("GET /metrics HTTP/1.1\r\nHost"), None, "partial");
        assert_eq!(get("GET /x HTTP/1.1\r\n\r\n"), Some(Request::NotFound));
        assert_eq!(
            get("POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Request::BadMethod)
        );
        assert_eq!(get("\x01\x02 garbage\r\n\r\n"), Some(Request::Bad));
    }
}
