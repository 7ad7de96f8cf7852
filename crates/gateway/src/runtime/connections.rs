//! What the accept loop holds against clients that open connections and do not use them:
//! a bound on open connections in all (`ODEADEV_MAX_CONNECTIONS`) and per client address
//! (`ODEADEV_MAX_CONNECTIONS_PER_ADDRESS`; trusted proxies, which carry many clients, are
//! exempt), a refusal that costs one non-blocking write, and a deadline for a connection's
//! first bytes ([`FirstBytes`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::limits::client_ip::TrustedProxies;

/// Connections open per client address.
type OpenByAddress = Arc<Mutex<HashMap<IpAddr, u32>>>;

/// The bounds on open connections.
pub struct ConnectionLimits {
    total: Arc<Semaphore>,
    max_total: u32,
    per_address: u32,
    open: OpenByAddress,
    exempt: TrustedProxies,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The process holds `ODEADEV_MAX_CONNECTIONS`.
    Total,
    /// The address holds `ODEADEV_MAX_CONNECTIONS_PER_ADDRESS`.
    Address,
}

impl Refusal {
    /// Metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::Address => "address",
        }
    }
}

/// One open connection's place under the bounds; given back when dropped.
pub struct ConnectionPermit {
    _total: OwnedSemaphorePermit,
    address: Option<(IpAddr, OpenByAddress)>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if let Some((ip, open)) = self.address.take() {
            let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = open.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&ip);
                }
            }
        }
    }
}

impl ConnectionLimits {
    /// At most `total` connections, `per_address` from one address outside `exempt`.
    pub fn new(total: u32, per_address: u32, exempt: TrustedProxies) -> ConnectionLimits {
        ConnectionLimits {
            total: Arc::new(Semaphore::new(total as usize)),
            max_total: total,
            per_address,
            open: Arc::default(),
            exempt,
        }
    }

    /// A place for a new connection from `ip`, or why there is none.
    pub fn admit(&self, ip: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Total)?;
        if self.exempt.contains(ip) {
            return Ok(ConnectionPermit {
                _total: total,
                address: None,
            });
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.per_address {
            return Err(Refusal::Address);
        }
        *count += 1;
        Ok(ConnectionPermit {
            _total: total,
            address: Some((ip, self.open.clone())),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        (self.max_total as usize).saturating_sub(self.total.available_permits())
    }
}

/// Tells a refused client why, in one write that never waits, and closes: the error body
/// every response has, with a fresh request id.
pub fn refuse(stream: &TcpStream, refusal: Refusal) {
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    let detail = match refusal {
        Refusal::Total => "the server is at its connection limit; retry shortly",
        Refusal::Address => "too many open connections from this address; close some and retry",
    };
    let body = serde_json::json!({
        "detail": detail,
        "code": "too_many_connections",
        "request_id": request_id,
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // A full send buffer just means the client hears nothing; either way it is closed.
    let _ = stream.try_write(response.as_bytes());
}

/// Bytes a connection must send before [`FirstBytes`] lets it be: enough for the protocol to
/// be told (the HTTP/2 preface is 24 bytes), after which hyper's own header timeout runs.
const FIRST_BYTES: usize = 24;

/// A connection whose first [`FIRST_BYTES`] must arrive within a deadline. hyper's HTTP/1
/// header timeout starts only once the protocol is known, and telling it takes bytes: a
/// client that connects and sends nothing (or one byte) would otherwise be held open for as
/// long as it likes.
pub struct FirstBytes<IO> {
    io: IO,
    deadline: Option<Pin<Box<Sleep>>>,
    read: usize,
}

impl<IO> FirstBytes<IO> {
    /// `io`, closed with a timeout error unless its first bytes come within `within`.
    pub fn new(io: IO, within: Duration) -> FirstBytes<IO> {
        FirstBytes {
            io,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
            read: 0,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FirstBytes<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.read += buf.filled().len() - before;
            if this.read >= FIRST_BYTES || buf.filled().len() == before {
                this.deadline = None;
            }
            return polled;
        }
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent no request in time",
                )));
            }
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FirstBytes<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_bounded_in_all_and_per_address() {
        let exempt = TrustedProxies::parse("10.0.0.1").unwrap();
        let limits = ConnectionLimits::new(3, 1, exempt);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let first = limits.admit(a).unwrap();
        assert_eq!(limits.admit(a).err(), Some(Refusal::Address));
        let _second = limits.admit(b).unwrap();
        let _proxied = limits.admit(proxy).unwrap();
        assert_eq!(limits.admit(proxy).err(), Some(Refusal::Total));
        drop(first);
        assert!(
            limits.admit(a).is_ok(),
            "a closed connection gives its place back"
        );
    }
}
