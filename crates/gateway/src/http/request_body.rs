//! What a request body may cost: a declared length beyond the route's limit is refused at
//! once (413, before a byte of it is read); the body must come within
//! `ODEADEV_BODY_TOTAL_TIMEOUT_SECS` in all with no pause longer than
//! `ODEADEV_BODY_TIMEOUT_SECS` (else 408); and an answer sent before the body was read to its
//! end says `Connection: close`, so the client does not send its next request on a
//! connection the server will not read again.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::ApiError;

/// The deadlines of a request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadlines {
    /// Longest wait for the next piece.
    pub pause: Duration,
    /// Longest time for the whole body.
    pub total: Duration,
}

/// The error a body gives when it missed one of its deadlines.
#[derive(Debug, thiserror::Error)]
#[error("the request body took too long to arrive")]
pub struct BodyTooSlow;

/// Middleware: refuses a declared length over `limit` at once.
pub async fn limit_declared_length(limit: usize, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let error = ApiError::PayloadTooLarge(format!(
            "request body is too large: at most {limit} bytes on this route"
        ));
        return error.into_response();
    }
    next.run(request).await
}

/// Middleware: puts the body under `deadlines`, and says `Connection: close` on an answer
/// sent before the body was read to its end.
pub async fn guard_body(deadlines: BodyDeadlines, request: Request, next: Next) -> Response {
    let has_body = request.headers().contains_key(TRANSFER_ENCODING)
        || request
            .headers()
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let finished = Arc::new(AtomicBool::new(!has_body));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadlines,
            pause: Box::pin(tokio::time::sleep(deadlines.pause)),
            total: Box::pin(tokio::time::sleep(deadlines.total)),
            finished: finished.clone(),
        })
    });
    let mut response = next.run(request).await;
    if !finished.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body with a total deadline and a deadline for each pause.
struct DeadlineBody {
    inner: Body,
    deadlines: BodyDeadlines,
    pause: Pin<Box<Sleep>>,
    total: Pin<Box<Sleep>>,
    finished: Arc<AtomicBool>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.finished.store(true, Ordering::Release);
                return Poll::Ready(None);
            }
            Poll::Ready(Some(frame)) => {
                let next_pause = Instant::now() + this.deadlines.pause;
                this.pause.as_mut().reset(next_pause);
                if this.inner.is_end_stream() {
                    this.finished.store(true, Ordering::Release);
                }
                return Poll::Ready(Some(frame));
            }
            Poll::Pending => {}
        }
        if this.pause.as_mut().poll(cx).is_ready() || this.total.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a body error came from [`BodyTooSlow`].
pub fn is_too_slow(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<BodyTooSlow>() {
            return true;
        }
        source = e.source();
    }
    false
}
