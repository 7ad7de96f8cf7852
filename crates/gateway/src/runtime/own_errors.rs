//! Our error body for the refusals hyper writes itself.
//!
//! A request whose head hyper cannot parse (a garbage request line, a header over the size
//! limit, too many headers, a URI too long) never reaches the router: hyper answers it on its
//! own with an empty 400, 431 or 414 and closes the connection. [`OwnErrors`] sits between
//! hyper and the socket and puts our JSON error body, with a request id, in place of such an
//! answer. It recognises one by its shape: a whole response head of one of those statuses
//! with `content-length: 0`, which no answer of the router has (every error the router sends
//! carries a body).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The statuses hyper answers unparsable request heads with, and what we say instead.
const REFUSALS: [(&[u8], &str, &str, &str); 3] = [
    (
        b"HTTP/1.1 400 ",
        "400 Bad Request",
        "bad_request",
        "the request could not be read: its request line or a header is malformed",
    ),
    (
        b"HTTP/1.1 431 ",
        "431 Request Header Fields Too Large",
        "headers_too_large",
        "the request's headers are too large or too many",
    ),
    (
        b"HTTP/1.1 414 ",
        "414 URI Too Long",
        "uri_too_long",
        "the request's URI is too long",
    ),
];

/// An IO that replaces hyper's own empty refusals with our error body.
pub struct OwnErrors<IO> {
    io: IO,
    /// Our answer still to write, from `pending[written..]`.
    pending: Vec<u8>,
    written: usize,
}

impl<IO> OwnErrors<IO> {
    /// Wraps `io`.
    pub fn new(io: IO) -> OwnErrors<IO> {
        OwnErrors {
            io,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// Our answer in place of `head`, if `head` is one of hyper's own refusals.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let (_, status, code, detail) = REFUSALS
        .iter()
        .find(|(prefix, ..)| head.starts_with(prefix))?;
    let whole_head = head.ends_with(b"\r\n\r\n");
    let empty = head
        .windows(b"\r\ncontent-length: 0\r\n".len())
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0\r\n"));
    if !(whole_head && empty) {
        return None;
    }
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    let body =
        serde_json::json!({"detail": detail, "code": code, "request_id": request_id}).to_string();
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<IO: AsyncWrite + Unpin> OwnErrors<IO> {
    /// Writes what is left of our answer; ready once it is all out.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `data` in place of the socket when it is one of hyper's refusals.
    fn replaced(&mut self, data: &[u8], cx: &mut Context<'_>) -> Option<Poll<io::Result<usize>>> {
        let ours = replacement(data)?;
        self.pending = ours;
        self.written = 0;
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // What is left goes out on the flush hyper makes next.
            _ => Poll::Ready(Ok(data.len())),
        })
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for OwnErrors<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for OwnErrors<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        if let Some(done) = this.replaced(data, cx) {
            return done;
        }
        Pin::new(&mut this.io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if first.len() == total {
                if let Some(done) = this.replaced(first, cx) {
                    return done;
                }
            }
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::replacement;

    #[test]
    fn only_hypers_empty_refusals_are_replaced() {
        let canned = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 00:00:00 GMT\r\n\r\n";
        let ours = String::from_utf8(replacement(canned).unwrap()).unwrap();
        assert!(ours.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(ours.contains("\"code\":\"headers_too_large\""));
        assert!(ours.contains("x-request-id: "));
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 52\r\n\r\n";
        assert!(replacement(with_body).is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
    }
}
