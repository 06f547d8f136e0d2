//! Signals and the terminal: Ctrl-C and SIGTERM as one stream of shutdown requests, and
//! output that ends quietly when the reader went away (`sigbench … | head`).

use futures_util::Stream;

/// `println!` that ends quietly on a closed pipe: output is best effort, the exit code
/// stays the verdict's.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}
pub(crate) use out;

/// One item per SIGINT (Ctrl-C) or SIGTERM (what `docker stop` and Kubernetes send),
/// each announced on stderr: the first asks for a graceful stop, the next for an
/// immediate one. The handlers are installed when the stream is first polled (a command
/// that never listens keeps the default behaviour: a signal ends it), and then once, so
/// no signal is lost in between.
pub fn signals() -> impl Stream<Item = ()> + Send + 'static {
    futures_util::stream::unfold(None, |listener: Option<Listener>| async move {
        let mut listener = listener.unwrap_or_else(Listener::new);
        listener.next().await;
        listener.seen += 1;
        if listener.seen == 1 {
            eprintln!(
                "interrupted: nothing new starts; finishing what is in flight (signal again to stop at once)"
            );
        } else {
            eprintln!("stopping at once; writing what is known");
        }
        Some(((), Some(listener)))
    })
}

struct Listener {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    /// Signals received so far.
    seen: u32,
}

impl Listener {
    fn new() -> Listener {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Listener {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
                seen: 0,
            }
        }
        #[cfg(not(unix))]
        Listener { seen: 0 }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let Listener { int, term, .. } = self;
            let int = async {
                match int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = int => {}
                () = term => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
