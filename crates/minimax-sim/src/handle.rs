//! Starting the simulator on a listener and stopping it again.

use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::SimState;
use crate::{app, SimConfig};

/// A running simulator. Dropping it (or calling [`SimHandle::shutdown`])
/// stops accepting connections and ends hanging/streaming responses.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    /// The bound socket address (with the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` of the listener, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Signals shutdown and waits (up to 5 s) for the server task to finish,
    /// so the port is closed when this returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Serves the simulator on `listener` in a background tokio task until the
/// returned handle is dropped or shut down.
pub async fn spawn(config: SimConfig, listener: TcpListener) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let base_url = config
        .public_base_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{addr}"));
    let (tx, rx) = watch::channel(false);
    let state = Arc::new(SimState::new(config, base_url, rx.clone()));
    let router = app::router(state);
    let mut stop = rx;
    let task = tokio::spawn(async move {
        // Events are written as they are produced; without TCP_NODELAY a reused connection
        // stalls ~40 ms on Nagle's algorithm meeting the client's delayed ACK.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                // A dropped sender also counts as shutdown.
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await
    });
    Ok(SimHandle {
        addr,
        shutdown: tx,
        task: Some(task),
    })
}
