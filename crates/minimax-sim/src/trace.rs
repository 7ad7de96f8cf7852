//! Per-request trace ids: one 32-hex id goes into the JSON body and the
//! `Trace-Id` response header, as MiniMax does.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The trace id of the current request (a request extension).
#[derive(Debug, Clone)]
pub(crate) struct TraceId(pub String);

/// 32 lowercase hex characters.
pub(crate) fn new_trace_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Middleware: allocates the id and mirrors it into the `Trace-Id` header.
pub(crate) async fn trace_layer(mut req: Request, next: Next) -> Response {
    let id = new_trace_id();
    req.extensions_mut().insert(TraceId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("trace-id", v);
    }
    resp
}
