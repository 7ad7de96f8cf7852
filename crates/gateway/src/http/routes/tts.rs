//! Speech: `POST /v1/tts` (base64 in JSON, the original contract) and `POST /v2/tts` (the
//! audio itself, streamed as it is produced; SSE on `Accept: text/event-stream`).
//!
//! Every answer from the synthesis service, success or refusal, carries the user's
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use odeadev_audio::{AudioFormat, SUPPORTED_BITRATES, SUPPORTED_SAMPLE_RATES};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::options::{Emotion, Model, LANGUAGE_BOOSTS};
use crate::domain::text::SpeechText;
use crate::error::ApiError;
use crate::http::context::{RequestId, RequestLog};
use crate::http::error::{add_rate_limit_headers, ErrorBody};
use crate::http::extract::{Authed, JsonBody};
use crate::http::stream_body;
use crate::http::views::secs;
use crate::http::AppState;
use crate::service::synthesis::{Frame, SynthesisError, TtsParams};

/// Body of `POST /v1/tts` and `POST /v2/tts`. The bounds the API document gives each field
/// come from the constants below and the domain's (`http/openapi/rules.rs`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct TtsRequest {
    /// Text, 1..=5000 characters as sent and after NFC normalisation; no control characters
    /// but newline, tab and CRLF line ends; at least one letter or digit outside pause
    /// markers. Pause markers like `<#0.5#>` (0.01 to 99.99 seconds, at most two decimals)
    /// are allowed.
    pub text: String,
    /// Voice friendly name; omitted → the default voice. Send `voice_name` or `voice_id`,
    /// not both (both are taken only when they are equal).
    pub voice_name: Option<String>,
    /// Same meaning as `voice_name` (later clients).
    pub voice_id: Option<String>,
    /// Model (default `speech-02-turbo`).
    pub model: Option<Model>,
    /// 0.5..=2.0 (default 1.0).
    pub speed: Option<f64>,
    /// -12..=12 semitones (default 0).
    #[serde(default, deserialize_with = "crate::http::numbers::integer")]
    pub pitch: Option<i64>,
    /// Emotion (default `neutral`: the engine chooses); `fluent` and `whisper` need a
    /// speech-2.6 model.
    pub emotion: Option<Emotion>,
    /// (0, 10] (default 1.0).
    pub volume: Option<f64>,
    /// `mp3` (default), `wav`, `pcm` or `flac` (`wav` is not streamed: not on `/v2/tts`).
    #[schema(value_type = Option<String>)]
    pub format: Option<AudioFormat>,
    /// 8000, 16000, 22050, 24000, 32000 (default) or 44100.
    #[serde(default, deserialize_with = "crate::http::numbers::integer")]
    pub sample_rate: Option<i64>,
    /// MP3 bitrate: 32000, 64000, 128000 (default) or 256000.
    #[serde(default, deserialize_with = "crate::http::numbers::integer")]
    pub bitrate: Option<i64>,
    /// MiniMax language boost, e.g. `English` or `auto`.
    pub language_boost: Option<String>,
}

/// Slowest and fastest speech `speed` on `/v1/tts` and `/v2/tts`.
pub const SPEED: (f64, f64) = (0.5, 2.0);
/// Lowest and highest `pitch`, in semitones.
pub const PITCH: (i64, i64) = (-12, 12);
/// Highest `volume` (the lowest is above 0).
pub const MAX_VOLUME: f64 = 10.0;

/// `value` when it is one of `allowed`.
fn one_of(value: i64, allowed: &[u32]) -> Option<u32> {
    u32::try_from(value).ok().filter(|v| allowed.contains(v))
}

impl TtsRequest {
    /// Validates every field; errors name the field.
    pub fn into_params(self) -> Result<TtsParams, ApiError> {
        let text = SpeechText::parse(&self.text).map_err(|m| ApiError::field("text", m))?;
        let voice = match (self.voice_name, self.voice_id) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::field(
                    "voice_id",
                    "differs from voice_name; send one of them",
                ))
            }
            (a, b) => a.or(b),
        };
        let model = self.model.unwrap_or(Model::Speech02Turbo);
        let speed = self.speed.unwrap_or(1.0);
        if !(SPEED.0..=SPEED.1).contains(&speed) {
            return Err(ApiError::field("speed", "must be between 0.5 and 2.0"));
        }
        let pitch = self.pitch.unwrap_or(0);
        if !(PITCH.0..=PITCH.1).contains(&pitch) {
            return Err(ApiError::field(
                "pitch",
                "must be an integer between -12 and 12",
            ));
        }
        let emotion = self.emotion.unwrap_or(Emotion::Neutral);
        if !emotion.allowed_with(model) {
            return Err(ApiError::field(
                "emotion",
                format!(
                    "{} is only available with speech-2.6 models",
                    emotion.as_str()
                ),
            ));
        }
        let volume = self.volume.unwrap_or(1.0);
        if !(volume > 0.0 && volume <= MAX_VOLUME) {
            return Err(ApiError::field(
                "volume",
                "must be greater than 0 and at most 10",
            ));
        }
        let sample_rate = one_of(self.sample_rate.unwrap_or(32_000), &SUPPORTED_SAMPLE_RATES)
            .ok_or_else(|| {
                ApiError::field(
                    "sample_rate",
                    format!("must be one of {SUPPORTED_SAMPLE_RATES:?}"),
                )
            })?;
        let bitrate =
            one_of(self.bitrate.unwrap_or(128_000), &SUPPORTED_BITRATES).ok_or_else(|| {
                ApiError::field("bitrate", format!("must be one of {SUPPORTED_BITRATES:?}"))
            })?;
        if let Some(boost) = &self.language_boost {
            if !LANGUAGE_BOOSTS.contains(&boost.as_str()) {
                return Err(ApiError::field(
                    "language_boost",
                    "is not a supported language (e.g. English, auto)",
                ));
            }
        }
        Ok(TtsParams {
            text,
            voice,
            model,
            speed: speed as f32,
            pitch: pitch as i32,
            emotion,
            // A volume above 0 stays above 0 as the engine gets it: 5e-324 is 0 as an f32.
            volume: (volume as f32).max(f32::MIN_POSITIVE),
            format: self.format.unwrap_or(AudioFormat::Mp3),
            sample_rate,
            bitrate,
            language_boost: self.language_boost,
        })
    }
}

/// Answer of `POST /v1/tts`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TtsResponse {
    /// The audio, base64.
    pub audio_base64: String,
    /// Everything else about the speech.
    #[serde(flatten)]
    pub details: SpeechDetails,
}

/// What `POST /v1/tts` says about the speech besides the audio.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpeechDetails {
    /// Real length of the audio.
    pub duration_seconds: f64,
    /// Sample rate of the audio.
    pub sample_rate: u32,
    /// Friendly name of the voice used.
    pub voice_used: String,
    /// Characters of text.
    pub text_length: usize,
    /// Seconds of quota left after this request.
    pub remaining_quota: f64,
    /// Seconds billed for this request.
    pub billed_seconds: f64,
    /// Audio format.
    #[schema(value_type = String)]
    pub format: AudioFormat,
}

/// The JSON of a [`TtsResponse`], written around the audio by hand: serde_json would scan
/// every byte of the base64 for characters to escape (none can occur in it), which was the
/// largest single cost of a request under load. Same bytes as serialising the struct. The
/// base64 is SIMD-encoded straight into the body's spare capacity (no zeroing, no copy).
fn tts_body(audio: &[u8], details: &SpeechDetails) -> Result<Vec<u8>, serde_json::Error> {
    const HEAD: &[u8] = b"{\"audio_base64\":\"";
    let rest = serde_json::to_vec(details)?;
    let base64 = base64_simd::STANDARD;
    let mut body =
        Vec::with_capacity(HEAD.len() + base64.encoded_length(audio.len()) + 2 + rest.len());
    body.extend_from_slice(HEAD);
    base64.encode_append(audio, &mut body);
    body.extend_from_slice(b"\",");
    // `rest` is `{"duration_seconds":…}`: its fields continue this object.
    body.extend_from_slice(rest.get(1..).unwrap_or_default());
    Ok(body)
}

/// Speaks a text and returns the audio as base64 JSON.
#[utoipa::path(
    post,
    path = "/v1/tts",
    tag = "speech",
    request_body = TtsRequest,
    responses(
        (status = 200, description = "Speech, base64 in JSON", body = TtsResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody),
        (status = 403, description = "Inactive user", body = ErrorBody),
        (status = 404, description = "Unknown voice", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody),
        (status = 429, description = "Quota cannot cover the estimate, or a rate/concurrency limit; `Retry-After` and `RateLimit-*` headers", body = ErrorBody),
        (status = 502, description = "The engine failed (nothing charged)", body = ErrorBody),
        (status = 503, description = "The engine or a dependency is unavailable (nothing charged)", body = ErrorBody),
        (status = 504, description = "The engine did not answer in time (nothing charged)", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn create_speech(
    State(state): State<AppState>,
    Authed(me): Authed,
    Extension(request_id): Extension<RequestId>,
    Extension(log): Extension<RequestLog>,
    JsonBody(body): JsonBody<TtsRequest>,
) -> Result<Response, SynthesisError> {
    let params = body.into_params()?;
    let started = std::time::Instant::now();
    let spoken = state
        .synthesis
        .synthesize(&me, params, "/v1/tts", &request_id.0)
        .await?;
    log.update(|f| {
        f.engine = Some(spoken.voice.provider.as_str());
        f.engine_ms = Some(started.elapsed().as_millis() as u64);
        f.audio_ms = Some(spoken.billed_ms);
    });
    let details = SpeechDetails {
        duration_seconds: secs(spoken.audio_ms as i64),
        sample_rate: spoken.sample_rate,
        voice_used: spoken.voice.friendly_name,
        text_length: spoken.text_length,
        remaining_quota: secs(spoken.remaining_ms),
        billed_seconds: secs(spoken.billed_ms),
        format: spoken.format,
    };
    let body = tts_body(&spoken.audio, &details).map_err(ApiError::internal)?;
    let json = HeaderValue::from_static("application/json");
    let mut response = ([(header::CONTENT_TYPE, json)], body).into_response();
    add_rate_limit_headers(response.headers_mut(), spoken.rate_limit.as_ref());
    Ok(response)
}

fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// Speaks a text and streams the audio as it is produced.
#[utoipa::path(
    post,
    path = "/v2/tts",
    tag = "speech",
    request_body = TtsRequest,
    responses(
        (status = 200, description = "The audio itself, streamed as produced (audio/mpeg, audio/pcm, audio/flac), or SSE `audio`/`done` events with `Accept: text/event-stream`",
            content((String = "audio/mpeg"), (String = "audio/pcm"), (String = "audio/flac"), (String = "text/event-stream"))),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody),
        (status = 403, description = "Inactive user", body = ErrorBody),
        (status = 404, description = "Unknown voice", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody),
        (status = 429, description = "Quota cannot cover the estimate, or a rate/concurrency limit; `Retry-After` and `RateLimit-*` headers", body = ErrorBody),
        (status = 502, description = "The engine failed (nothing charged)", body = ErrorBody),
        (status = 503, description = "The engine or a dependency is unavailable (nothing charged)", body = ErrorBody),
        (status = 504, description = "The engine did not answer in time (nothing charged)", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn stream_speech(
    State(state): State<AppState>,
    Authed(me): Authed,
    Extension(request_id): Extension<RequestId>,
    Extension(log): Extension<RequestLog>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TtsRequest>,
) -> Result<Response, SynthesisError> {
    let params = body.into_params()?;
    if params.format == AudioFormat::Wav {
        return Err(
            ApiError::field("format", "wav cannot be streamed; use mp3, pcm or flac").into(),
        );
    }
    let sse = wants_sse(&headers);
    let start = state
        .synthesis
        .stream(&me, params, "/v2/tts", &request_id.0)
        .await?;
    log.update(|f| f.engine = Some(start.voice.provider.as_str()));
    let content_type = if sse {
        "text/event-stream"
    } else {
        start.format.content_type()
    };
    let body = if sse {
        stream_body::events(start.frames, |frame| {
            Some(match frame {
                Frame::Audio(bytes) => format!(
                    "event: audio\ndata: {{\"audio\":\"{}\"}}\n\n",
                    base64_simd::STANDARD.encode_to_string(bytes)
                ),
                Frame::Done {
                    audio_ms,
                    billed_ms,
                    remaining_ms,
                } => format!(
                    "event: done\ndata: {}\n\n",
                    serde_json::json!({
                        "duration_seconds": secs(*audio_ms as i64),
                        "billed_seconds": secs(*billed_ms),
                        "remaining_quota": secs(*remaining_ms),
                    })
                ),
            })
        })
    } else {
        stream_body::raw_audio(start.frames)
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&start.voice.friendly_name) {
        h.insert("x-voice-used", v);
    }
    add_rate_limit_headers(h, start.rate_limit.as_ref());
    Ok(response.into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn the_hand_written_body_is_the_serialised_response() {
        // Lengths around the SIMD encoder's block sizes, and every byte value.
        let every_byte: Vec<u8> = (0..=255u8).cycle().take(20_011).collect();
        for audio in [&b""[..], b"a", b"ab", b"abc", &[0xff; 1000], &every_byte] {
            let details = || SpeechDetails {
                duration_seconds: 1.25,
                sample_rate: 32_000,
                voice_used: "marcus \"quoted\"".into(),
                text_length: 25,
                remaining_quota: 3598.75,
                billed_seconds: 1.25,
                format: AudioFormat::Mp3,
            };
            let expected = serde_json::to_vec(&TtsResponse {
                audio_base64: base64::engine::general_purpose::STANDARD.encode(audio),
                details: details(),
            })
            .unwrap();
            assert_eq!(tts_body(audio, &details()).unwrap(), expected);
        }
    }
}
