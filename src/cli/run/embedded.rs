//! The reference server started inside `sigbench run` when no `--target` is given. It
//! runs on a tokio runtime of its own, with its own threads, so that the harness's
//! runtime (one thread by default, `--threads`) holds only the harness's tasks: the
//! server neither takes the harness's thread away from its sessions nor is limited to
//! it.

use tokio::runtime::Runtime;

use crate::cli::error::CliError;
use crate::server::{ServerConfig, ServerHandle};

/// A running embedded server and the runtime its tasks run on.
pub struct EmbeddedServer {
    /// Listener, connections and expiry sweeper of the server.
    handle: ServerHandle,
    /// The server's own threads; shut down after the server has closed its connections.
    runtime: Runtime,
}

impl EmbeddedServer {
    /// Starts the server with `config` on a new runtime of `threads` worker threads.
    pub async fn start(config: ServerConfig, threads: usize) -> Result<EmbeddedServer, CliError> {
        let fail =
            |why: String| CliError::Target(format!("cannot start the embedded server: {why}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("sigbench-server")
            .enable_all()
            .build()
            .map_err(|e| fail(e.to_string()))?;
        // Spawned on the server's runtime, so that the listener and every task the server
        // starts belong to it.
        let handle = runtime
            .spawn(crate::server::spawn(config))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("{e:#}")))?;
        Ok(EmbeddedServer { handle, runtime })
    }

    /// `ws://HOST:PORT/`.
    pub fn url(&self) -> String {
        self.handle.url()
    }

    /// Closes every connection, waits for the server's tasks to end, then lets the
    /// runtime's threads go (without blocking the caller's runtime).
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
        self.runtime.shutdown_background();
    }
}
