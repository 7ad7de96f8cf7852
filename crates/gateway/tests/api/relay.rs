//! A TCP relay between the gateway and a dependency (the simulator, Redis) that the tests can
//! break like a real outage or a server's idle close: it counts the connections the gateway
//! opens, closes them, or stops listening altogether.
//!
//! Every close returns only once the relayed sockets are gone. Aborting a task only queues its
//! cancellation, and the runtime may run the gateway's next request, and the relay task that
//! forwards it, first: the dependency would still answer a request sent "after" the cut.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A running relay to one target address.
pub struct Relay {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    connections: Arc<Mutex<JoinSet<()>>>,
    listener: JoinHandle<()>,
}

impl Relay {
    /// Listens on a random loopback port and relays every connection to `target` (host:port).
    pub async fn to(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(Mutex::new(JoinSet::new()));
        let (count, set) = (accepted.clone(), connections.clone());
        let listener = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                set.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay {
            address,
            accepted,
            connections,
            listener,
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
