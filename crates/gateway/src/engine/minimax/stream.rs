//! Streaming synthesis: opens an SSE call and turns its events into audio chunks.
//!
//! The call is retried (by the caller) only until the first audio arrives; after that a
//! failure ends the stream with an error.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::protocol::{decode_hex, error_for_code, T2aRequest, T2aResponse};
use super::sse::{Line, SseLines};
use super::upstream::{Answer, Upstream};
use super::{check_status, read_bounded, Chunks, MinimaxEngine};
use crate::engine::{AudioStream, EngineError, StreamEvent, SynthesisRequest};
use crate::runtime::fold_wakes::FoldWakes;

type Event = Result<StreamEvent, EngineError>;

/// How long a finished stream's connection waits for the end of its response to be reused.
const END_WAIT: Duration = Duration::from_secs(1);

/// Parses one event payload into what it means for the stream.
fn parse_event(payload: &[u8]) -> Result<Option<StreamEvent>, EngineError> {
    let event = T2aResponse::parse(payload)
        .map_err(|e| EngineError::BadResponse(format!("invalid event JSON: {e}")))?;
    if event.base_resp.status_code != 0 {
        return Err(error_for_code(
            event.base_resp.status_code,
            event.base_resp.status_msg.as_deref().unwrap_or(""),
            event.trace_id.as_deref(),
        ));
    }
    let data = event
        .data
        .ok_or_else(|| EngineError::BadResponse("event without data".into()))?;
    match data.status {
        Some(1) => match data.audio.as_deref() {
            Some(hex) if !hex.is_empty() => {
                Ok(Some(StreamEvent::Audio(Bytes::from(decode_hex(hex)?))))
            }
            _ => Ok(None),
        },
        // The final event may repeat the whole audio; never forward it, only its length.
        Some(2) => {
            let ms = event
                .extra_info
                .map(|e| e.audio_length)
                .filter(|ms| *ms >= 0)
                .ok_or_else(|| {
                    EngineError::BadResponse("final event without audio_length".into())
                })?;
            Ok(Some(StreamEvent::Finished {
                audio_ms: ms as u64,
            }))
        }
        other => Err(EngineError::BadResponse(format!(
            "unknown event status {other:?}"
        ))),
    }
}

/// Opens the upstream stream and waits for its first meaningful event, so that errors before
/// any audio are reported (and retried) as ordinary failures.
pub async fn open(
    engine: &MinimaxEngine,
    request: &SynthesisRequest,
) -> Result<AudioStream, EngineError> {
    let timeout = engine.settings.timeout;
    let max_line = engine.settings.max_response_bytes;
    let body = T2aRequest::new(request, true).encode()?;
    let mut answer = tokio::time::timeout(timeout, engine.t2a.post_json(body))
        .await
        .map_err(|_| EngineError::Timeout)??;
    check_status(answer.status())?;
    let is_json = answer
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        // An error answered as a plain JSON body instead of events.
        let bytes = tokio::time::timeout(timeout, read_bounded(&mut answer, max_line))
            .await
            .map_err(|_| EngineError::Timeout)??;
        parse_event(&bytes)?;
        return Err(EngineError::BadResponse(
            "JSON body where an event stream was expected".into(),
        ));
    }
    let mut reader = EventReader {
        answer: Some(answer),
        upstream: engine.t2a.clone(),
        lines: SseLines::new(max_line),
        idle: timeout,
        done: false,
        finished: false,
    };
    let first = reader.next().await;
    let first = match first {
        Some(Ok(event)) => event,
        Some(Err(e)) => return Err(e),
        None => {
            return Err(EngineError::BadResponse(
                "stream ended before any event".into(),
            ))
        }
    };
    // A slow client holds back the upstream read (TCP backpressure) instead of piling audio
    // up in memory: with thousands of streams, every buffered chunk counts.
    let (tx, rx) = mpsc::channel::<Event>(2);
    // The task drives the connection too (see `fold_wakes`).
    tokio::spawn(FoldWakes::new(async move {
        let finished = matches!(first, StreamEvent::Finished { .. });
        if tx.send(Ok(first)).await.is_ok() && !finished {
            while let Some(item) = reader.next().await {
                let last = !matches!(item, Ok(StreamEvent::Audio(_)));
                if tx.send(item).await.is_err() || last {
                    break;
                }
            }
        }
        // The audio stream ends here; nobody waits for what follows.
        drop(tx);
        reader.release().await;
    }));
    Ok(Box::pin(ReceiverStream::new(rx)))
}

struct EventReader {
    /// The response, until its end (then its connection goes back to `upstream`).
    answer: Option<Answer>,
    upstream: Arc<Upstream>,
    lines: SseLines,
    idle: Duration,
    done: bool,
    /// The final event was read.
    finished: bool,
}

impl EventReader {
    /// The next audio chunk or end event; `None` only after the final event was returned.
    async fn next(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        let result = self.next_inner().await;
        if !matches!(result, Ok(StreamEvent::Audio(_))) {
            self.done = true;
            self.finished = matches!(result, Ok(StreamEvent::Finished { .. }));
        }
        Some(result)
    }

    /// Ends the reading: after the final event, the connection goes back for reuse once the
    /// response's end arrives (right behind the event, normally); otherwise it is closed.
    async fn release(&mut self) {
        if let Some(mut answer) = self.answer.take() {
            if self.finished {
                answer.await_end(END_WAIT).await;
            }
            self.upstream.give_back(answer);
        }
    }

    async fn next_inner(&mut self) -> Event {
        loop {
            match self.lines.next_line().map_err(EngineError::BadResponse)? {
                Some(Line::Payload(p)) => {
                    if let Some(event) = parse_event(&p)? {
                        return Ok(event);
                    }
                    continue;
                }
                Some(Line::Ignored) => continue,
                None => {}
            }
            let Some(answer) = self.answer.as_mut() else {
                return Err(EngineError::BadResponse("stream read after its end".into()));
            };
            match tokio::time::timeout(self.idle, answer.chunk()).await {
                Err(_) => return Err(EngineError::Timeout),
                Ok(Ok(Some(chunk))) => self.lines.push(&chunk),
                Ok(Err(e)) => return Err(EngineError::Unavailable(format!("stream broken: {e}"))),
                Ok(Ok(None)) => {
                    if let Some(Line::Payload(p)) = self.lines.finish() {
                        if let Some(event) = parse_event(&p)? {
                            return Ok(event);
                        }
                    }
                    return Err(EngineError::BadResponse(
                        "stream ended without a final event".into(),
                    ));
                }
            }
        }
    }
}
