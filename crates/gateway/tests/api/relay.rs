//! A TCP relay between the gateway and a dependency (the simulator, Redis) that the tests can
//! break like a real outage or a server's idle close: it counts the connections the gateway
//! opens, closes them, stops listening altogether (and listens again on the same port), or
//! freezes (holds every byte, closes nothing: a hung server) and thaws.
//!
//! Every close returns only once the relayed sockets are gone. Aborting a task only queues its
//! cancellation, and the runtime may run the gateway's next request, and the relay task that
//! forwards it, first: the dependency would still answer a request sent "after" the cut.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A running relay to one target address.
pub struct Relay {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    connections: Arc<Mutex<JoinSet<()>>>,
    listener: JoinHandle<()>,
    frozen: watch::Sender<bool>,
}

impl Relay {
    /// Listens on a random loopback port and relays every connection to `target` (host:port).
    pub async fn to(target: String) -> Relay {
        Relay::listen("127.0.0.1:0".parse().unwrap(), target).await
    }

    /// Listens on `address` (the one a cut relay had: the target is reachable again where it
    /// was) and relays every connection to `target`.
    pub async fn listen(address: SocketAddr, target: String) -> Relay {
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let (count, set) = (accepted.clone(), connections.clone());
        let frozen = watch::Sender::new(false);
        let thawed = frozen.subscribe();
        let listener = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                let thawed = thawed.clone();
                set.lock().unwrap().spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        let (from_client, to_client) = inbound.into_split();
                        let (from_target, to_target) = outbound.into_split();
                        tokio::join!(
                            pump(from_client, to_target, thawed.clone()),
                            pump(from_target, to_client, thawed),
                        );
                    }
                });
            }
        });
        Relay {
            address,
            accepted,
            connections,
            listener,
            frozen,
        }
    }

    /// Where the gateway connects.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Holds every byte from now on, both ways and on new connections, closing nothing: the
    /// target looks hung.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    /// Lets the held bytes through again, and everything after them.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }

    /// Closes every connection relayed so far, on both sides; new ones are still accepted.
    pub async fn close_connections(&self) {
        let mut open = std::mem::take(&mut *self.connections.lock().unwrap());
        open.shutdown().await;
    }

    /// Stops listening and closes every connection: the target is unreachable from now on.
    pub async fn cut(mut self) {
        self.listener.abort();
        // Awaiting the aborted task returns once it is dropped, and its listener with it.
        let _ = (&mut self.listener).await;
        self.close_connections().await;
    }
}

/// Copies `from` to `to` until either ends, holding what it read while the relay is frozen.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut thawed: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buffer).await {
        if thawed.wait_for(|frozen| !frozen).await.is_err()
            || to.write_all(&buffer[..n]).await.is_err()
        {
            break;
        }
    }
    let _ = to.shutdown().await;
}
