//! OpenAI-compatible speech: `POST /v1/audio/speech` and `GET /v1/models`, with OpenAI's
//! error shape and statuses so OpenAI SDKs raise the right exceptions.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use odeadev_audio::AudioFormat;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::openai::{engine_speed, model_for, OPENAI_MODELS};
use crate::domain::options::{Emotion, Model};
use crate::domain::text::SpeechText;
use crate::error::ApiError;
use crate::http::context::{RequestId, RequestLog};
use crate::http::error::add_rate_limit_headers;
use crate::http::extract::{Authed, JsonBody};
use crate::http::stream_body;
use crate::http::AppState;
use crate::limits::RateDecision;
use crate::service::synthesis::{Frame, SynthesisError, TtsParams};

/// An error in OpenAI's shape: `{"error": {"message","type","param","code"}}`, with the
/// rate-limit state for the headers when the limiter saw the request.
pub struct OpenAiError(pub SynthesisError);

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        OpenAiError(e.into())
    }
}

impl From<SynthesisError> for OpenAiError {
    fn from(e: SynthesisError) -> Self {
        OpenAiError(e)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let SynthesisError {
            error: e,
            rate_limit,
        } = self.0;
        let status = match e.status() {
            // OpenAI answers invalid input with 400.
            422 => 400,
            other => other,
        };
        let (kind, code) = match &e {
            ApiError::Unauthorized(_) => ("invalid_request_error", "invalid_api_key"),
            ApiError::QuotaExceeded { .. } => ("insufficient_quota", "insufficient_quota"),
            ApiError::RateLimited { .. } => ("rate_limit_error", "rate_limit_exceeded"),
            _ if status >= 500 => ("server_error", e.code()),
            _ => ("invalid_request_error", e.code()),
        };
        let message = e.to_string();
        let param = message.split_once(':').map(|(p, _)| p).filter(|p| {
            matches!(
                *p,
                "model" | "input" | "voice" | "response_format" | "speed" | "stream_format"
            )
        });
        let body =
            json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
        let mut response = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(body),
        )
            .into_response();
        crate::http::error::attach_error_metadata(&mut response, &e);
        add_rate_limit_headers(response.headers_mut(), rate_limit.as_ref());
        response
    }
}

/// OpenAI's error body (for the API document).
#[derive(utoipa::ToSchema)]
pub struct OpenAiErrorBody {
    /// `{"message", "type", "param", "code"}`.
    pub error: OpenAiErrorDetail,
}

/// The inside of [`OpenAiErrorBody`].
#[derive(utoipa::ToSchema)]
pub struct OpenAiErrorDetail {
    /// Human-readable reason.
    pub message: String,
    /// `invalid_request_error`, `insufficient_quota`, `rate_limit_error` or `server_error`.
    #[schema(rename = "type")]
    pub kind: String,
    /// The offending parameter, when one is.
    pub param: Option<String>,
    /// Stable code, e.g. `invalid_api_key`.
    pub code: String,
}

/// A voice given as a name or as `{"id": name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum VoiceParam {
    /// A voice name: ours, or one of OpenAI's standard voices.
    Name(String),
    /// `{"id": "..."}`.
    Object {
        /// The voice name.
        id: String,
    },
}

/// Body of `POST /v1/audio/speech`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpeechRequest {
    /// `tts-1`, `tts-1-hd`, `gpt-4o-mini-tts`, or one of our model names.
    pub model: String,
    /// Text to speak, 1..=5000 characters.
    pub input: String,
    /// Our voice names, or OpenAI's (alloy, ash, ballad, cedar, coral, echo, fable, marin, nova,
    /// onyx, sage, shimmer, verse) mapped to configurable stand-ins.
    pub voice: VoiceParam,
    /// Accepted for compatibility; engines do not take free-form instructions.
    pub instructions: Option<String>,
    /// `mp3` (default), `flac`, `wav` or `pcm` (24 kHz 16-bit LE mono). `opus` and `aac`
    /// are refused with 400.
    pub response_format: Option<String>,
    /// 0.25..=4.0 (default 1.0), clamped to the engines' 0.5..=2.0.
    pub speed: Option<f64>,
    /// `audio` (default) or `sse`.
    pub stream_format: Option<String>,
}

/// Slowest and fastest `speed` OpenAI's API takes (the engines' range is narrower: clamped).
pub const OPENAI_SPEED: (f64, f64) = (0.25, 4.0);

/// The `response_format`s spoken here; OpenAI's others (`opus`, `aac`) are refused.
pub const RESPONSE_FORMATS: [&str; 4] = ["mp3", "flac", "wav", "pcm"];

/// The `stream_format`s: the audio itself, or server-sent events.
pub const STREAM_FORMATS: [&str; 2] = ["audio", "sse"];

/// OpenAI's default sample rate for speech output.
const OPENAI_SAMPLE_RATE: u32 = 24_000;

fn params(body: &SpeechRequest, voice: String) -> Result<(TtsParams, bool), ApiError> {
    let model: Model = model_for(&body.model)
        .ok_or_else(|| ApiError::field("model", format!("unknown model '{}'", body.model)))?;
    let text = SpeechText::parse(&body.input).map_err(|m| ApiError::field("input", m))?;
    let format = match body.response_format.as_deref().unwrap_or("mp3") {
        "mp3" => AudioFormat::Mp3,
        "flac" => AudioFormat::Flac,
        "wav" => AudioFormat::Wav,
        "pcm" => AudioFormat::Pcm,
        "opus" | "aac" => {
            return Err(ApiError::field(
                "response_format",
                "opus and aac are not supported; use mp3, flac, wav or pcm",
            ))
        }
        other => {
            return Err(ApiError::field(
                "response_format",
                format!("unknown format '{other}'"),
            ))
        }
    };
    let speed = body.speed.unwrap_or(1.0);
    if !(OPENAI_SPEED.0..=OPENAI_SPEED.1).contains(&speed) {
        return Err(ApiError::field("speed", "must be between 0.25 and 4.0"));
    }
    let sse = match body.stream_format.as_deref().unwrap_or("audio") {
        "audio" => false,
        "sse" => true,
        other => {
            return Err(ApiError::field(
                "stream_format",
                format!("must be audio or sse, not '{other}'"),
            ))
        }
    };
    Ok((
        TtsParams {
            text,
            voice: Some(voice),
            model,
            speed: engine_speed(speed) as f32,
            pitch: 0,
            emotion: Emotion::Neutral,
            volume: 1.0,
            format,
            sample_rate: OPENAI_SAMPLE_RATE,
            bitrate: 128_000,
            language_boost: None,
        },
        sse,
    ))
}

fn audio_response(
    body: axum::body::Body,
    content_type: &'static str,
    rate_limit: Option<&RateDecision>,
) -> Response {
    let mut response = Response::new(body);
    add_rate_limit_headers(response.headers_mut(), rate_limit);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Speaks `input`; the audio is streamed in the body (or as SSE with `stream_format: "sse"`).
#[utoipa::path(
    post,
    path = "/v1/audio/speech",
    tag = "openai",
    request_body = SpeechRequest,
    responses(
        (status = 200, description = "The audio, streamed (audio/mpeg, audio/flac, audio/wav, audio/pcm), or SSE events `speech.audio.delta` / `speech.audio.done`",
            content((String = "audio/mpeg"), (String = "audio/flac"), (String = "audio/wav"), (String = "audio/pcm"), (String = "text/event-stream"))),
        (status = 400, description = "Invalid input (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 401, description = "Bad API key (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 429, description = "Quota or rate limit (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 503, description = "Engine unavailable (OpenAI error shape)", body = OpenAiErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn create_speech(
    State(state): State<AppState>,
    auth: Result<Authed, ApiError>,
    Extension(request_id): Extension<RequestId>,
    Extension(log): Extension<RequestLog>,
    body: Result<JsonBody<SpeechRequest>, ApiError>,
) -> Result<Response, OpenAiError> {
    let Authed(me) = auth?;
    let JsonBody(body) = body.map_err(|e| match e {
        ApiError::Validation(m) => ApiError::BadRequest(m),
        other => other,
    })?;
    let requested = match &body.voice {
        VoiceParam::Name(n) | VoiceParam::Object { id: n } => n,
    };
    let voice = state
        .voices
        .resolve_openai_voice(requested, &state.openai_voices)
        .await?;
    let (params, sse) = params(&body, voice)?;
    let input_chars = params.text.chars();
    if params.format == AudioFormat::Wav && !sse {
        let spoken = state
            .synthesis
            .synthesize(&me, params, "/v1/audio/speech", &request_id.0)
            .await?;
        log.update(|f| {
            f.engine = Some(spoken.voice.provider.as_str());
            f.audio_ms = Some(spoken.billed_ms);
        });
        return Ok(audio_response(
            axum::body::Body::from(spoken.audio),
            AudioFormat::Wav.content_type(),
            spoken.rate_limit.as_ref(),
        ));
    }
    let start = state
        .synthesis
        .stream(&me, params, "/v1/audio/speech", &request_id.0)
        .await?;
    log.update(|f| f.engine = Some(start.voice.provider.as_str()));
    let rate_limit = start.rate_limit;
    if sse {
        let body = stream_body::events(start.frames, move |frame| match frame {
            Frame::Audio(bytes) => Some(format!(
                "data: {}\n\n",
                json!({"type": "speech.audio.delta", "audio": base64_simd::STANDARD.encode_to_string(bytes)})
            )),
            Frame::Done { .. } => Some(format!(
                "data: {}\n\n",
                json!({"type": "speech.audio.done", "usage": {"input_tokens": input_chars, "output_tokens": 0, "total_tokens": input_chars}})
            )),
        });
        return Ok(audio_response(
            body,
            "text/event-stream",
            rate_limit.as_ref(),
        ));
    }
    Ok(audio_response(
        stream_body::raw_audio(start.frames),
        start.format.content_type(),
        rate_limit.as_ref(),
    ))
}

/// `GET /v1/models`: the models `/v1/audio/speech` accepts.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "openai",
    responses(
        (status = 200, description = "`{\"object\":\"list\",\"data\":[{\"id\",\"object\",\"created\",\"owned_by\"}]}`", body = Object),
        (status = 401, description = "Bad API key (OpenAI error shape)", body = OpenAiErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn list_models(
    auth: Result<Authed, ApiError>,
) -> Result<Json<serde_json::Value>, OpenAiError> {
    auth?;
    let ours = Model::ALL.iter().map(|m| m.as_str());
    let data: Vec<_> = OPENAI_MODELS
        .iter()
        .map(|(name, _)| *name)
        .chain(ours)
        .map(|id| json!({"id": id, "object": "model", "created": 1_735_689_600, "owned_by": "odeadev"}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}
