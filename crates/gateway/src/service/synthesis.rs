//! Synthesis with metering: resolve the voice, reserve an upper-bound estimate atomically,
//! call the engine, settle the real length in the same transaction as the usage record.
//!
//! The engine call and its settlement run in their own task, so a client that goes away
//! never leaves a reservation unsettled; a node that dies is covered by the lease reaper.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use odeadev_audio::AudioFormat;
use tokio::sync::mpsc;

use super::auth::Principal;
use crate::domain::estimate::estimate_ms;
use crate::domain::options::{Emotion, Model};
use crate::domain::records::{UsageStatus, Voice};
use crate::domain::text::SpeechText;
use crate::engine::minimax::NOT_CONFIGURED;
use crate::engine::{Engine, EngineError, EngineRegistry, StreamEvent, SynthesisRequest};
use crate::error::ApiError;
use crate::store::{Reservation, Settlement, Store, UsageContext, VoiceFilter};

/// A validated synthesis request, engine-neutral.
#[derive(Debug, Clone)]
pub struct TtsParams {
    /// Text to speak.
    pub text: SpeechText,
    /// Friendly voice name; `None` = the default voice.
    pub voice: Option<String>,
    /// Model.
    pub model: Model,
    /// 0.5..=2.0
    pub speed: f32,
    /// -12..=12
    pub pitch: i32,
    /// Emotion (`neutral` lets the engine choose).
    pub emotion: Emotion,
    /// (0, 10]
    pub volume: f32,
    /// Output format.
    pub format: AudioFormat,
    /// Output sample rate.
    pub sample_rate: u32,
    /// MP3 bitrate.
    pub bitrate: u32,
    /// MiniMax language boost.
    pub language_boost: Option<String>,
}

/// A finished, billed synthesis.
#[derive(Debug)]
pub struct Spoken {
    /// Encoded audio.
    pub audio: Bytes,
    /// Real length reported by the engine.
    pub audio_ms: u64,
    /// What was billed.
    pub billed_ms: i64,
    /// The user's remaining quota after billing.
    pub remaining_ms: i64,
    /// Voice used.
    pub voice: Voice,
    /// Format of `audio`.
    pub format: AudioFormat,
    /// Sample rate of `audio`.
    pub sample_rate: u32,
    /// Characters of text.
    pub text_length: usize,
}

/// One item of a streamed response.
#[derive(Debug)]
pub enum Frame {
    /// Audio bytes, in order.
    Audio(Bytes),
    /// The stream ended and was billed.
    Done {
        /// Real length.
        audio_ms: u64,
        /// Billed.
        billed_ms: i64,
        /// Remaining quota afterwards.
        remaining_ms: i64,
    },
}

/// A stream that has produced its first audio.
pub struct StreamStart {
    /// Voice used.
    pub voice: Voice,
    /// Format of the audio.
    pub format: AudioFormat,
    /// Frames: audio then `Done`, or an error that must abort the response.
    pub frames: mpsc::Receiver<Result<Frame, ApiError>>,
}

struct Job {
    usage_id: String,
    estimate_ms: i64,
    engine: Arc<dyn Engine>,
    request: SynthesisRequest,
    voice: Voice,
    text_length: usize,
}

/// Synthesis use case.
#[derive(Clone)]
pub struct SynthesisService {
    store: Arc<dyn Store>,
    engines: EngineRegistry,
    lease: Duration,
    default_voice: Option<String>,
}

impl SynthesisService {
    /// The service over a store and a set of engines.
    pub fn new(
        store: Arc<dyn Store>,
        engines: EngineRegistry,
        lease: Duration,
        default_voice: Option<String>,
    ) -> SynthesisService {
        SynthesisService {
            store,
            engines,
            lease,
            default_voice,
        }
    }

    /// The engines, for readiness and listings.
    pub fn engines(&self) -> &EngineRegistry {
        &self.engines
    }

    /// Why a voice cannot be used here, if it cannot.
    pub fn unavailable_reason(&self, voice: &Voice) -> Option<&'static str> {
        match self.engines.get(voice.provider) {
            None => Some(NOT_CONFIGURED),
            Some(engine) => engine.unavailable_reason(),
        }
    }

    async fn resolve_voice(&self, name: Option<&str>) -> Result<Voice, ApiError> {
        let name = name.or(self.default_voice.as_deref());
        if let Some(name) = name {
            return self
                .store
                .find_voice(name)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("voice '{name}' not found")));
        }
        let voices = self.store.list_voices(&VoiceFilter::default()).await?;
        voices
            .into_iter()
            .find(|v| self.unavailable_reason(v).is_none())
            .ok_or_else(|| ApiError::EngineUnavailable {
                detail: "no voice is available: no configured engine has an active voice".into(),
                cause: "no default voice".into(),
            })
    }

    async fn prepare(
        &self,
        principal: &Principal,
        params: TtsParams,
        endpoint: &'static str,
        request_id: &str,
    ) -> Result<Job, ApiError> {
        let voice = self.resolve_voice(params.voice.as_deref()).await?;
        let engine = match self.engines.get(voice.provider) {
            Some(engine) => engine.clone(),
            None => {
                return Err(ApiError::EngineUnavailable {
                    detail: NOT_CONFIGURED.into(),
                    cause: "minimax not configured".into(),
                })
            }
        };
        if let Some(reason) = engine.unavailable_reason() {
            return Err(ApiError::EngineUnavailable {
                detail: reason.into(),
                cause: format!("{} engine unavailable", voice.provider.as_str()),
            });
        }
        let estimate = estimate_ms(&params.text, params.speed);
        let usage_id = uuid::Uuid::now_v7().to_string();
        let context = UsageContext {
            id: usage_id.clone(),
            user_id: principal.user.id,
            key_id: Some(principal.key_id.clone()),
            voice_id: Some(voice.id),
            request_id: request_id.to_string(),
            endpoint,
            engine: Some(voice.provider.as_str()),
            model_used: Some(params.model.as_str().to_string()),
            text_length: params.text.chars() as i64,
        };
        let lease_until = Utc::now() + self.lease;
        match self.store.reserve(&context, estimate, lease_until).await? {
            Reservation::Reserved => {}
            Reservation::Insufficient { available_ms } => {
                return Err(ApiError::QuotaExceeded {
                    available_ms,
                    needed_ms: estimate,
                })
            }
        }
        let text_length = params.text.chars();
        let request = SynthesisRequest {
            text: params.text.as_str().to_string(),
            engine_voice_id: voice.engine_voice_id.clone(),
            model: params.model.as_str().to_string(),
            speed: params.speed,
            pitch: params.pitch,
            emotion: (params.emotion != Emotion::Neutral)
                .then(|| params.emotion.as_str().to_string()),
            volume: params.volume,
            format: params.format,
            sample_rate: params.sample_rate,
            bitrate: params.bitrate,
            language_boost: params.language_boost,
            request_id: request_id.to_string(),
        };
        Ok(Job {
            usage_id,
            estimate_ms: estimate,
            engine,
            request,
            voice,
            text_length,
        })
    }

    /// Speaks the whole text and bills it.
    pub async fn synthesize(
        &self,
        principal: &Principal,
        params: TtsParams,
        endpoint: &'static str,
        request_id: &str,
    ) -> Result<Spoken, ApiError> {
        let job = self
            .prepare(principal, params, endpoint, request_id)
            .await?;
        let this = self.clone();
        tokio::spawn(async move { this.finish(job).await })
            .await
            .map_err(ApiError::internal)?
    }

    async fn finish(&self, job: Job) -> Result<Spoken, ApiError> {
        match job.engine.synthesize(&job.request).await {
            Ok(done) => {
                let billed = self.billable(&job, done.audio_ms);
                let settled = self.store.settle(&job.usage_id, success(billed)).await?;
                Ok(Spoken {
                    audio: done.audio,
                    audio_ms: done.audio_ms,
                    billed_ms: billed,
                    remaining_ms: settled.remaining_ms,
                    voice: job.voice,
                    format: done.format,
                    sample_rate: done.sample_rate,
                    text_length: job.text_length,
                })
            }
            Err(e) => Err(self.settle_failure(&job.usage_id, e).await),
        }
    }

    fn billable(&self, job: &Job, audio_ms: u64) -> i64 {
        let audio_ms = i64::try_from(audio_ms).unwrap_or(i64::MAX);
        if audio_ms > job.estimate_ms {
            tracing::warn!(
                usage_id = %job.usage_id,
                audio_ms,
                estimate_ms = job.estimate_ms,
                "engine produced more audio than the reservation; billing the reservation"
            );
        }
        audio_ms.min(job.estimate_ms)
    }

    async fn settle_failure(&self, usage_id: &str, error: EngineError) -> ApiError {
        tracing::warn!(usage_id, error = %error, "engine call failed");
        let settlement = Settlement {
            status: UsageStatus::Error,
            billed_ms: 0,
            error_code: Some(format!("engine_{}", error.kind())),
            error_message: Some(ApiError::from(error_clone_kind(&error)).to_string()),
        };
        if let Err(e) = self.store.settle(usage_id, settlement).await {
            tracing::error!(usage_id, error = %e, "could not settle a failed request; the reaper will");
        }
        error.into()
    }

    /// Starts a streamed synthesis. Returns once the first audio is ready (or the request has
    /// failed, so the client gets a proper status code).
    pub async fn stream(
        &self,
        principal: &Principal,
        params: TtsParams,
        endpoint: &'static str,
        request_id: &str,
    ) -> Result<StreamStart, ApiError> {
        let job = self
            .prepare(principal, params, endpoint, request_id)
            .await?;
        let mut upstream = match job.engine.synthesize_stream(&job.request).await {
            Ok(s) => s,
            Err(e) => return Err(self.settle_failure(&job.usage_id, e).await),
        };
        let first = match upstream.next().await {
            Some(Ok(event)) => event,
            Some(Err(e)) => return Err(self.settle_failure(&job.usage_id, e).await),
            None => {
                let e = EngineError::BadResponse("stream ended at once".into());
                return Err(self.settle_failure(&job.usage_id, e).await);
            }
        };
        let (tx, rx) = mpsc::channel(8);
        let start = StreamStart {
            voice: job.voice.clone(),
            format: job.request.format,
            frames: rx,
        };
        let this = self.clone();
        tokio::spawn(async move { this.pump(job, first, upstream, tx).await });
        Ok(start)
    }

    async fn pump(
        &self,
        job: Job,
        first: StreamEvent,
        mut upstream: crate::engine::AudioStream,
        tx: mpsc::Sender<Result<Frame, ApiError>>,
    ) {
        enum End {
            Finished(u64),
            Failed(EngineError),
            ClientGone,
        }
        let mut delivered_bytes: u64 = 0;
        let mut next = Some(Ok(first));
        let mut renew = tokio::time::interval(self.lease / 3);
        renew.tick().await;
        let end = loop {
            let event = match next.take() {
                Some(e) => Some(e),
                None => tokio::select! {
                    _ = tx.closed() => break End::ClientGone,
                    _ = renew.tick() => {
                        let until = Utc::now() + self.lease;
                        if let Err(e) = self.store.extend_lease(&job.usage_id, until).await {
                            tracing::warn!(usage_id = %job.usage_id, error = %e, "could not extend lease");
                        }
                        continue;
                    }
                    e = upstream.next() => e,
                },
            };
            match event {
                Some(Ok(StreamEvent::Audio(bytes))) => {
                    delivered_bytes += bytes.len() as u64;
                    if tx.send(Ok(Frame::Audio(bytes))).await.is_err() {
                        break End::ClientGone;
                    }
                }
                Some(Ok(StreamEvent::Finished { audio_ms })) => break End::Finished(audio_ms),
                Some(Err(e)) => break End::Failed(e),
                None => break End::Failed(EngineError::BadResponse("stream ended early".into())),
            }
        };
        drop(upstream);
        match end {
            End::Finished(audio_ms) => {
                let billed = self.billable(&job, audio_ms);
                match self.store.settle(&job.usage_id, success(billed)).await {
                    Ok(settled) => {
                        let _ = tx
                            .send(Ok(Frame::Done {
                                audio_ms,
                                billed_ms: billed,
                                remaining_ms: settled.remaining_ms,
                            }))
                            .await;
                    }
                    Err(e) => {
                        tracing::error!(usage_id = %job.usage_id, error = %e, "could not settle a stream");
                        let _ = tx.send(Err(e.into())).await;
                    }
                }
            }
            End::Failed(e) => {
                let error = self.settle_failure(&job.usage_id, e).await;
                let _ = tx.send(Err(error)).await;
            }
            End::ClientGone => {
                let delivered_ms = delivered_duration_ms(&job.request, delivered_bytes);
                let billed = delivered_ms.min(job.estimate_ms);
                let settlement = Settlement {
                    status: UsageStatus::Cancelled,
                    billed_ms: billed,
                    error_code: Some("client_disconnected".into()),
                    error_message: Some(
                        "the client closed the connection before the audio ended".into(),
                    ),
                };
                if let Err(e) = self.store.settle(&job.usage_id, settlement).await {
                    tracing::error!(usage_id = %job.usage_id, error = %e, "could not settle a cancelled stream");
                }
            }
        }
    }
}

fn success(billed_ms: i64) -> Settlement {
    Settlement {
        status: UsageStatus::Success,
        billed_ms,
        error_code: None,
        error_message: None,
    }
}

/// A copy of an engine error's kind without its log-only text, for the client-safe message.
fn error_clone_kind(error: &EngineError) -> EngineError {
    match error {
        EngineError::NotConfigured(r) => EngineError::NotConfigured(r),
        EngineError::CircuitOpen => EngineError::CircuitOpen,
        EngineError::Timeout => EngineError::Timeout,
        EngineError::Unavailable(_) => EngineError::Unavailable(String::new()),
        EngineError::Account(_) => EngineError::Account(String::new()),
        EngineError::UnknownVoice(_) => EngineError::UnknownVoice(String::new()),
        EngineError::InvalidInput(_) => EngineError::InvalidInput(String::new()),
        EngineError::BadResponse(_) => EngineError::BadResponse(String::new()),
    }
}

/// How much audio `bytes` of a stream hold, for billing a stream the client left: exact for
/// PCM, by bitrate for MP3, and a lower bound (as if uncompressed) for other formats.
fn delivered_duration_ms(request: &SynthesisRequest, bytes: u64) -> i64 {
    let ms = match request.format {
        AudioFormat::Mp3 => bytes * 8 * 1000 / u64::from(request.bitrate.max(1)),
        _ => bytes * 1000 / (2 * u64::from(request.sample_rate.max(1))),
    };
    i64::try_from(ms).unwrap_or(i64::MAX)
}
