//! Streaming synthesis: opens an SSE call and turns its events into audio chunks.
//!
//! The call is retried (by the caller) only until the first audio arrives; after that a
//! failure ends the stream with an error.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::protocol::{decode_hex, error_for_code, T2aRequest, T2aResponse};
use super::sse::{Line, SseLines};
use super::{check_status, read_bounded, transport_error, MinimaxEngine};
use crate::engine::{AudioStream, EngineError, StreamEvent, SynthesisRequest};

type Event = Result<StreamEvent, EngineError>;

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
    let body = T2aRequest::new(request, true);
    let response = tokio::time::timeout(timeout, engine.post(&body).send())
        .await
        .map_err(|_| EngineError::Timeout)?
        .map_err(transport_error)?;
    check_status(&response)?;
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        // An error answered as a plain JSON body instead of events.
        let bytes = tokio::time::timeout(timeout, read_bounded(response, max_line))
            .await
            .map_err(|_| EngineError::Timeout)??;
        parse_event(&bytes)?;
        return Err(EngineError::BadResponse(
            "JSON body where an event stream was expected".into(),
        ));
    }
    let mut reader = EventReader {
        bytes: Box::pin(response.bytes_stream()),
        lines: SseLines::new(max_line),
        idle: timeout,
        done: false,
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
    tokio::spawn(async move {
        let finished = matches!(first, StreamEvent::Finished { .. });
        if tx.send(Ok(first)).await.is_err() || finished {
            return;
        }
        while let Some(item) = reader.next().await {
            let last = !matches!(item, Ok(StreamEvent::Audio(_)));
            if tx.send(item).await.is_err() || last {
                return;
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

struct EventReader {
    bytes: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    lines: SseLines,
    idle: Duration,
    done: bool,
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
        }
        Some(result)
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
            match tokio::time::timeout(self.idle, self.bytes.next()).await {
                Err(_) => return Err(EngineError::Timeout),
                Ok(Some(Ok(chunk))) => self.lines.push(&chunk),
                Ok(Some(Err(e))) => {
                    return Err(EngineError::Unavailable(format!(
                        "stream broken: {}",
                        transport_error(e)
                    )))
                }
                Ok(None) => {
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
