//! Run-time fault injection for `/v1/t2a_v2`: a FIFO queue of faults, each
//! applied to the next `times` matching requests.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// What a fault does. The JSON form is `{"kind": "<snake_case>", ...params}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum FaultKind {
    /// Answer with this HTTP status and a short text body.
    HttpStatus { status: u16 },
    /// HTTP 200 business error with this code (message from the doc table).
    BusinessError { code: i64 },
    /// HTTP 200 `application/json` whose body is truncated JSON.
    MalformedJson,
    /// Success shape, but `data.audio` is not valid hex.
    BadHex,
    /// Sleep, then answer normally.
    Delay { delay_ms: u64 },
    /// Never answer (until the client leaves or the simulator stops).
    Hang,
    /// A redirect to `location`.
    Redirect {
        location: String,
        #[serde(default = "default_redirect")]
        status: u16,
    },
    /// HTTP 200 JSON of about `bytes` bytes (a giant hex audio).
    Oversized { bytes: usize },
    /// Real audio (of the text's usual length, or of `produced_ms`), but
    /// `extra_info.audio_length` reports `audio_length_ms`: an engine whose word and whose
    /// audio disagree.
    AudioLength {
        audio_length_ms: u64,
        #[serde(default)]
        produced_ms: Option<u64>,
    },
    /// Streaming: send `after_chunks` chunks, then cut the connection.
    StreamCut { after_chunks: usize },
    /// Streaming: one `data:` event with this business error, no audio.
    StreamError { code: i64 },
    /// Streaming with this delay between chunks.
    SlowStream { delay_ms: u64 },
}

fn default_redirect() -> u16 {
    307
}

fn default_times() -> u32 {
    1
}

impl FaultKind {
    /// Stream-only faults are skipped (not consumed) by non-streaming requests.
    fn matches(&self, is_stream: bool) -> bool {
        match self {
            FaultKind::StreamCut { .. }
            | FaultKind::StreamError { .. }
            | FaultKind::SlowStream { .. } => is_stream,
            _ => true,
        }
    }

    /// Rejects parameters that could not produce a valid HTTP response.
    fn check(&self) -> Result<(), String> {
        match self {
            FaultKind::HttpStatus { status } if !(100..=999).contains(status) => {
                Err(format!("invalid http status {status}"))
            }
            FaultKind::Redirect { status, .. } if !(300..=399).contains(status) => {
                Err(format!("redirect status must be 3xx, got {status}"))
            }
            _ => Ok(()),
        }
    }
}

/// A queued fault and how many more requests it applies to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default = "default_times")]
    pub times: u32,
}

/// The FIFO queue.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    queue: VecDeque<Fault>,
}

impl FaultQueue {
    /// Validates and appends a fault.
    pub fn push(&mut self, fault: Fault) -> Result<(), String> {
        fault.kind.check()?;
        if fault.times == 0 {
            return Err("times must be at least 1".to_owned());
        }
        self.queue.push_back(fault);
        Ok(())
    }

    /// Consumes one use of the first fault that applies to this request.
    pub fn take(&mut self, is_stream: bool) -> Option<FaultKind> {
        let idx = self.queue.iter().position(|f| f.kind.matches(is_stream))?;
        let fault = self.queue.get_mut(idx)?;
        fault.times -= 1;
        let kind = fault.kind.clone();
        if fault.times == 0 {
            self.queue.remove(idx);
        }
        Some(kind)
    }

    /// The queue as listed by `GET /_sim/faults`.
    pub fn list(&self) -> Vec<Fault> {
        self.queue.iter().cloned().collect()
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_consumes_in_fifo_order_and_skips_stream_only() {
        let mut q = FaultQueue::default();
        for j in [
            r#"{"kind":"stream_cut","after_chunks":2}"#,
            r#"{"kind":"http_status","status":503,"times":2}"#,
            r#"{"kind":"malformed_json"}"#,
        ] {
            q.push(serde_json::from_str(j).unwrap()).unwrap();
        }
        assert_eq!(q.take(false), Some(FaultKind::HttpStatus { status: 503 }));
        assert_eq!(q.take(true), Some(FaultKind::StreamCut { after_chunks: 2 }));
        assert_eq!(q.take(false), Some(FaultKind::HttpStatus { status: 503 }));
        assert_eq!(q.take(false), Some(FaultKind::MalformedJson));
        assert_eq!(q.take(false), None);
        let redirect: Fault =
            serde_json::from_str(r#"{"kind":"redirect","location":"http://x/"}"#).unwrap();
        assert_eq!(redirect.times, 1);
        assert!(matches!(
            redirect.kind,
            FaultKind::Redirect { status: 307, .. }
        ));
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"nope"}"#).is_err());
        assert!(q
            .push(serde_json::from_str(r#"{"kind":"http_status","status":42}"#).unwrap())
            .is_err());
    }
}
