//! Engine port: how the synthesis service talks to a speech engine.
//!
//! Adapters live in `minimax` (the production upstream) and `local` (eSpeak NG).
//! Domain and service code only ever see the types in this module.

pub mod breaker;
pub mod local;
pub mod minimax;
pub mod piper;
mod registry;

pub use registry::EngineRegistry;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;
use odeadev_audio::AudioFormat;

/// Which engine serves a voice; stored with every voice as `provider`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// MiniMax T2A over HTTPS.
    Minimax,
    /// eSpeak NG on this machine.
    Local,
    /// Piper neural voices on this machine (ONNX Runtime).
    Piper,
}

impl Provider {
    /// Stable lowercase name, as stored and as used in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Minimax => "minimax",
            Provider::Local => "local",
            Provider::Piper => "piper",
        }
    }

    /// Parses the stored name.
    pub fn parse(value: &str) -> Option<Provider> {
        match value {
            "minimax" => Some(Provider::Minimax),
            "local" => Some(Provider::Local),
            "piper" => Some(Provider::Piper),
            _ => None,
        }
    }

    /// Why this provider's voices are refused on a server that has no engine for it (shown
    /// to clients as-is).
    pub fn not_configured_reason(self) -> &'static str {
        match self {
            Provider::Minimax => {
                "this voice is served by MiniMax, which is not configured on this server (MINIMAX_API_KEY is not set)"
            }
            Provider::Local => {
                "this voice is served by the local engine, which is not configured on this server"
            }
            Provider::Piper => {
                "this voice is served by the Piper engine, which is not configured on this server"
            }
        }
    }
}

/// Everything an engine needs to speak one text. Already validated.
#[derive(Debug, Clone)]
pub struct SynthesisRequest {
    /// NFC-normalised text, pause markers (`<#0.5#>`) left in place.
    pub text: String,
    /// The engine's own voice id (MiniMax voice id, or eSpeak voice name).
    pub engine_voice_id: String,
    /// Model name as given by the client (e.g. `speech-02-turbo`).
    pub model: String,
    /// 0.5..=2.0
    pub speed: f32,
    /// -12..=12 semitones.
    pub pitch: i32,
    /// Emotion name, or `None` to let the engine choose.
    pub emotion: Option<String>,
    /// (0, 10], 1.0 is unchanged.
    pub volume: f32,
    /// Output container/codec.
    pub format: AudioFormat,
    /// Output sample rate in Hz, one of `odeadev_audio::SUPPORTED_SAMPLE_RATES`.
    pub sample_rate: u32,
    /// MP3 bitrate in bits/s, one of `odeadev_audio::SUPPORTED_BITRATES`.
    pub bitrate: u32,
    /// MiniMax `language_boost`, passed through when set.
    pub language_boost: Option<String>,
    /// Our request id, for upstream correlation in logs.
    pub request_id: String,
}

/// A finished synthesis.
#[derive(Debug, Clone)]
pub struct Synthesis {
    /// Encoded audio in `format`.
    pub audio: Bytes,
    /// Real length of the audio in milliseconds, as the engine measured it.
    pub audio_ms: u64,
    /// Sample rate of `audio`.
    pub sample_rate: u32,
    /// Format of `audio`.
    pub format: AudioFormat,
}

impl Synthesis {
    /// Audio an engine rendered itself, in the format and at the rate the request asked for.
    pub(crate) fn as_requested(request: &SynthesisRequest, audio: Vec<u8>, audio_ms: u64) -> Self {
        Synthesis {
            audio: Bytes::from(audio),
            audio_ms,
            sample_rate: request.sample_rate,
            format: request.format,
        }
    }
}

/// One item of a streamed synthesis.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// More encoded audio bytes, in order.
    Audio(Bytes),
    /// The stream ended normally; the real audio length in milliseconds.
    Finished {
        /// Real length of all audio sent, in milliseconds.
        audio_ms: u64,
    },
}

/// A streamed synthesis: audio chunks then exactly one `Finished`, or an error.
pub type AudioStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, EngineError>> + Send>>;

/// Why an engine could not speak. Messages here are for logs only, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine is not configured on this deployment (e.g. no MiniMax key).
    #[error("engine not configured: {0}")]
    NotConfigured(&'static str),
    /// The circuit breaker is open after repeated failures.
    #[error("circuit breaker open")]
    CircuitOpen,
    /// The engine did not answer in time.
    #[error("engine timed out")]
    Timeout,
    /// Every slot of a local engine stayed taken for the whole bounded wait.
    #[error("engine busy")]
    Busy,
    /// Could not reach the engine, or it failed transiently (5xx, overload).
    #[error("engine unavailable: {0}")]
    Unavailable(String),
    /// The engine refused our credentials or account (bad key, no balance).
    #[error("engine rejected our account: {0}")]
    Account(String),
    /// The engine says the voice does not exist.
    #[error("engine does not know the voice: {0}")]
    UnknownVoice(String),
    /// The engine rejected the request's content or parameters.
    #[error("engine rejected the input: {0}")]
    InvalidInput(String),
    /// The engine answered something we cannot use (bad JSON, bad hex, too large).
    #[error("engine answered badly: {0}")]
    BadResponse(String),
}

impl EngineError {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, EngineError::Unavailable(_))
    }

    /// Short stable name for logs, metrics and usage records.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::NotConfigured(_) => "not_configured",
            EngineError::CircuitOpen => "circuit_open",
            EngineError::Timeout => "timeout",
            EngineError::Busy => "busy",
            EngineError::Unavailable(_) => "unavailable",
            EngineError::Account(_) => "account",
            EngineError::UnknownVoice(_) => "unknown_voice",
            EngineError::InvalidInput(_) => "invalid_input",
            EngineError::BadResponse(_) => "bad_response",
        }
    }
}

/// An audio sample uploaded for voice cloning.
#[derive(Debug, Clone)]
pub struct CloneSample {
    /// The file's bytes.
    pub bytes: Bytes,
    /// Its name, with extension (`sample.wav`).
    pub filename: String,
}

/// Why a voice could not be cloned.
#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    /// The engine refused the sample or parameters; the text is client-safe.
    #[error("{0}")]
    Rejected(&'static str),
    /// The engine already has a voice with this id.
    #[error("voice id already exists at the engine")]
    VoiceIdTaken,
    /// Any other engine failure.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// An engine that can clone voices from a sample.
#[async_trait]
pub trait VoiceCloner: Send + Sync {
    /// Uploads `sample` and registers it at the engine under `voice_id`.
    async fn clone_voice(&self, sample: CloneSample, voice_id: &str) -> Result<(), CloneError>;
}

/// Size of the audio chunks [`whole_audio_stream`] yields.
pub(crate) const STREAM_CHUNK_BYTES: usize = 16 * 1024;

/// A finished synthesis as a stream: the audio in chunks of [`STREAM_CHUNK_BYTES`], then
/// `Finished`. For engines that render the whole text before the first byte.
pub(crate) fn whole_audio_stream(audio: Bytes, audio_ms: u64) -> AudioStream {
    let chunk = STREAM_CHUNK_BYTES;
    let mut events: Vec<Result<StreamEvent, EngineError>> = (0..audio.len())
        .step_by(chunk)
        .map(|start| {
            Ok(StreamEvent::Audio(
                audio.slice(start..(start + chunk).min(audio.len())),
            ))
        })
        .collect();
    events.push(Ok(StreamEvent::Finished { audio_ms }));
    Box::pin(futures::stream::iter(events))
}

/// A speech engine. Implementations must not block the async runtime.
#[async_trait]
pub trait Engine: Send + Sync {
    /// Which provider this engine serves.
    fn provider(&self) -> Provider;

    /// `None` when usable, or the reason it is not (shown to clients as-is, so keep it generic).
    fn unavailable_reason(&self) -> Option<&'static str>;

    /// As [`unavailable_reason`](Engine::unavailable_reason), for one of its voices: an
    /// engine with voice files of its own can be up with one voice's file missing.
    fn voice_unavailable_reason(&self, _engine_voice_id: &str) -> Option<&'static str> {
        self.unavailable_reason()
    }

    /// Speaks the whole text and returns the encoded audio.
    async fn synthesize(&self, request: &SynthesisRequest) -> Result<Synthesis, EngineError>;

    /// Speaks the text as a stream of audio chunks, first bytes as early as the engine allows.
    async fn synthesize_stream(
        &self,
        request: &SynthesisRequest,
    ) -> Result<AudioStream, EngineError>;

    /// Breaker state for `/ready` and metrics: `closed`, `open` or `half_open`.
    fn breaker_state(&self) -> &'static str {
        "closed"
    }
}
