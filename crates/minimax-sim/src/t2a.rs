//! `POST /v1/t2a_v2`: faults, auth, validation, synthesis (cached) and the
//! non-streaming response; streaming is delegated to `stream`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use odeadev_audio::AudioFormat;
use serde_json::{json, Value};

use crate::audio_cache::{AudioKey, EncodedAudio};
use crate::faults::FaultKind;
use crate::responses::{business_error, invalid, json_body, status_msg};
use crate::state::{lock, SimState};
use crate::stream::{self, StreamPlan};
use crate::t2a_validate::{validate, T2aPlan};
use crate::trace::TraceId;

/// How long a `hang` fault waits (until the client or the simulator leaves).
const HANG: Duration = Duration::from_secs(3600);

/// Duration of the synthesized audio: characters at `ms_per_char`, scaled by
/// speed, plus pauses; never below 100 ms.
fn duration_ms(state: &SimState, plan: &T2aPlan) -> u64 {
    let speech = f64::from(state.config.ms_per_char) * plan.text.spoken_chars as f64 / plan.speed;
    (speech.round() as u64 + plan.text.pause_ms).max(100)
}

fn extra_info(plan: &T2aPlan, audio_length: u64, audio_size: usize) -> String {
    json!({
        "audio_length": audio_length,
        "audio_sample_rate": plan.sample_rate,
        "audio_size": audio_size,
        "bitrate": plan.bitrate,
        "word_count": plan.text.word_count,
        "invisible_character_ratio": plan.text.invisible_ratio,
        "usage_characters": plan.text.spoken_chars,
        "audio_format": plan.format.as_str(),
        // The simulator always produces mono audio; reporting the truth keeps
        // byte-count based duration maths on the client correct.
        "audio_channel": 1,
    })
    .to_string()
}

/// A success body around an already-quoted JSON string for `data.audio`.
fn success_body(audio_json: &[u8], extra: &str, trace: &str) -> Response {
    let mut out = Vec::with_capacity(audio_json.len() + extra.len() + 200);
    out.extend_from_slice(br#"{"data":{"audio":"#);
    out.extend_from_slice(audio_json);
    out.extend_from_slice(br#","status":2},"extra_info":"#);
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(br#","trace_id":""#);
    out.extend_from_slice(trace.as_bytes());
    out.extend_from_slice(br#"","base_resp":{"status_code":0,"status_msg":"success"}}"#);
    // Raw bytes avoid another copy of a possibly multi-megabyte hex string.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response()
}

fn quoted(hex: &[u8]) -> Vec<u8> {
    let mut q = Vec::with_capacity(hex.len() + 2);
    q.push(b'"');
    q.extend_from_slice(hex);
    q.push(b'"');
    q
}

/// Faults that replace the whole answer; `None` means "carry on".
async fn early_fault(state: &SimState, trace: &str, fault: &FaultKind) -> Option<Response> {
    Some(match fault {
        FaultKind::HttpStatus { status } => {
            let code = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (code, format!("simulated upstream failure ({status})")).into_response()
        }
        FaultKind::BusinessError { code } => business_error(trace, *code, status_msg(*code)),
        FaultKind::StreamError { code } => stream::error_event(trace, *code, status_msg(*code)),
        FaultKind::MalformedJson => json_body(
            StatusCode::OK,
            format!(
                r#"{{"data":{{"audio":"4944330400","status":2}},"trace_id":"{trace}","base_resp":{{"status_co"#
            ),
        ),
        FaultKind::Hang => {
            state.sleep(HANG).await;
            (StatusCode::SERVICE_UNAVAILABLE, "simulator shutting down").into_response()
        }
        FaultKind::Redirect { location, status } => {
            let code = StatusCode::from_u16(*status).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
            (code, [(header::LOCATION, location.clone())]).into_response()
        }
        FaultKind::Oversized { bytes } => {
            let hex = "ab".repeat(bytes.saturating_sub(300) / 2);
            let extra = r#"{"audio_length":1000,"audio_sample_rate":32000,"audio_size":0,"bitrate":128000,"word_count":1,"invisible_character_ratio":0,"usage_characters":1,"audio_format":"mp3","audio_channel":1}"#;
            success_body(&quoted(hex.as_bytes()), extra, trace)
        }
        FaultKind::Delay { delay_ms } => {
            state.sleep(Duration::from_millis(*delay_ms)).await;
            return None;
        }
        _ => return None,
    })
}

/// `POST /v1/t2a_v2`.
pub(crate) async fn t2a(
    State(state): State<Arc<SimState>>,
    Extension(TraceId(trace)): Extension<TraceId>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    state.t2a_requests.fetch_add(1, Ordering::Relaxed);
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    let is_stream = parsed
        .as_ref()
        .and_then(|v| v.get("stream"))
        .and_then(Value::as_bool)
        == Some(true);
    let fault = lock(&state.faults).take(is_stream);
    if let Some(f) = &fault {
        if let Some(resp) = early_fault(&state, &trace, f).await {
            return resp;
        }
    }
    if let Err((code, msg)) = crate::auth::check(&state.config, &headers, query.as_deref()) {
        return business_error(&trace, code, msg);
    }
    let Some(body) = parsed else {
        return invalid(&trace, "request body");
    };
    let plan = match validate(&body) {
        Ok(p) => p,
        Err((code, msg)) => return business_error(&trace, code, &msg),
    };
    {
        let mut voices = lock(&state.voices);
        if !plan.voice_ids.iter().all(|id| voices.exists(id)) {
            return business_error(&trace, 2054, "voice id not exist");
        }
        for id in &plan.voice_ids {
            voices.activate(id);
        }
    }
    let duration = match fault {
        Some(FaultKind::AudioLength {
            produced_ms: Some(produced_ms),
            ..
        }) => produced_ms,
        _ => duration_ms(&state, &plan),
    };
    let key = AudioKey {
        format: plan.format,
        sample_rate: plan.sample_rate,
        bitrate: plan.bitrate,
        duration_ms: duration,
        seed: plan.seed,
    };
    let audio = match state.cache.get_or_encode(key).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "audio synthesis failed");
            return business_error(&trace, 1024, "internal error");
        }
    };
    let reported_length = match fault {
        Some(FaultKind::AudioLength {
            audio_length_ms, ..
        }) => audio_length_ms,
        _ => duration,
    };
    let extra = extra_info(&plan, reported_length, audio.bytes.len());
    let bad_hex = matches!(fault, Some(FaultKind::BadHex));
    if plan.stream {
        let stream_plan = StreamPlan {
            chunk_bytes: chunk_bytes(&state, &plan, &audio, duration),
            delay: match fault {
                Some(FaultKind::SlowStream { delay_ms }) => Duration::from_millis(delay_ms),
                _ => Duration::from_millis(u64::from(state.config.stream_chunk_delay_ms)),
            },
            cut_after: match fault {
                Some(FaultKind::StreamCut { after_chunks }) => Some(after_chunks),
                _ => None,
            },
            bad_hex,
            exclude_aggregated: plan.exclude_aggregated,
        };
        return stream::respond(Arc::clone(&state), trace, audio, extra, stream_plan);
    }
    if plan.url_output {
        let id = lock(&state.hosted).put(audio.bytes.clone(), plan.format.content_type());
        let url = json!(format!("{}/_sim/audio/{id}", state.base_url)).to_string();
        return success_body(url.as_bytes(), &extra, &trace);
    }
    if bad_hex {
        // Invalid digits and an odd length: fails any hex decoder.
        let mut broken = b"zz".to_vec();
        broken.extend_from_slice(audio.hex.get(2..).unwrap_or_default());
        broken.push(b'z');
        return success_body(&quoted(&broken), &extra, &trace);
    }
    success_body(&quoted(&audio.hex), &extra, &trace)
}

/// Bytes per streamed chunk: `stream_chunk_ms` worth of the encoded audio,
/// kept sample-aligned for raw PCM.
fn chunk_bytes(state: &SimState, plan: &T2aPlan, audio: &EncodedAudio, duration: u64) -> usize {
    let total = audio.bytes.len().max(1) as u64;
    let ms = u64::from(state.config.stream_chunk_ms);
    if ms == 0 {
        return total as usize;
    }
    let mut n = (total * ms).div_ceil(duration.max(1)).max(1) as usize;
    if plan.format == AudioFormat::Pcm && n % 2 == 1 {
        n += 1;
    }
    n
}
