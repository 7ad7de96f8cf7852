//! SSE streaming for `/v1/t2a_v2` with `stream=true`: status-1 events with
//! hex slices, then a status-2 event with `extra_info`. The body is produced
//! incrementally from a task through a channel so pacing and cuts are real.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::audio_cache::EncodedAudio;
use crate::state::SimState;

/// How one streamed response should behave.
#[derive(Debug, Clone)]
pub(crate) struct StreamPlan {
    /// Audio bytes per status-1 event (>= 1).
    pub chunk_bytes: usize,
    /// Pause before every event after the first.
    pub delay: Duration,
    /// Cut the connection after this many chunks instead of finishing.
    pub cut_after: Option<usize>,
    /// Corrupt the hex of the first chunk.
    pub bad_hex: bool,
    /// Leave the aggregated audio out of the final event.
    pub exclude_aggregated: bool,
}

type Chunk = Result<Bytes, std::io::Error>;

/// Aborts the body. The short pause first lets hyper flush the chunks
/// already sent, so the client reliably receives them before the cut.
async fn cut(tx: &mpsc::Sender<Chunk>) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = tx
        .send(Err(std::io::Error::other("simulated stream cut")))
        .await;
}

/// A `text/event-stream` response whose body comes from a channel.
pub(crate) fn sse(rx: mpsc::Receiver<Chunk>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response()
}

fn event(json_parts: &[&[u8]]) -> Bytes {
    let len = json_parts.iter().map(|p| p.len()).sum::<usize>() + 8;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"data: ");
    for p in json_parts {
        out.extend_from_slice(p);
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Streams `audio` according to `plan`; `extra_info` is pre-rendered JSON.
pub(crate) fn respond(
    state: Arc<SimState>,
    trace: String,
    audio: Arc<EncodedAudio>,
    extra_info: String,
    plan: StreamPlan,
) -> Response {
    let (tx, rx) = mpsc::channel::<Chunk>(8);
    tokio::spawn(async move {
        let tail = format!(
            r#"","status":1}},"trace_id":"{trace}","base_resp":{{"status_code":0,"status_msg":""}}}}"#
        );
        let hex_chunk = plan.chunk_bytes.max(1) * 2;
        for (i, slice) in audio.hex.chunks(hex_chunk).enumerate() {
            if plan.cut_after == Some(i) {
                // An error item makes hyper abort the response mid-body, so
                // the client sees a truncated stream, not a clean end.
                cut(&tx).await;
                return;
            }
            if i > 0 && !plan.delay.is_zero() && !state.sleep(plan.delay).await {
                return;
            }
            let bad = plan.bad_hex && i == 0;
            let hex: &[u8] = if bad { b"zz0" } else { slice };
            let ev = event(&[br#"{"data":{"audio":""#, hex, tail.as_bytes()]);
            if tx.send(Ok(ev)).await.is_err() {
                return;
            }
        }
        if plan.cut_after.is_some() {
            cut(&tx).await;
            return;
        }
        let close = format!(
            r#","extra_info":{extra_info},"trace_id":"{trace}","base_resp":{{"status_code":0,"status_msg":"success"}}}}"#
        );
        let ev = if plan.exclude_aggregated {
            event(&[br#"{"data":{"status":2}"#, close.as_bytes()])
        } else {
            event(&[
                br#"{"data":{"audio":""#,
                &audio.hex,
                br#"","status":2}"#,
                close.as_bytes(),
            ])
        };
        let _ = tx.send(Ok(ev)).await;
    });
    sse(rx)
}

/// A stream holding a single business-error event and nothing else.
pub(crate) fn error_event(trace: &str, code: i64, msg: &str) -> Response {
    let (tx, rx) = mpsc::channel::<Chunk>(1);
    let body = serde_json::json!({
        "data": null,
        "trace_id": trace,
        "base_resp": {"status_code": code, "status_msg": msg},
    })
    .to_string();
    let ev = event(&[body.as_bytes()]);
    // Capacity 1 and a fresh channel: this cannot fail or block.
    let _ = tx.try_send(Ok(ev));
    sse(rx)
}
