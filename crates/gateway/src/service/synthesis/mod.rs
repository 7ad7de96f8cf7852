//! Synthesis with metering: admit the request through the rate and concurrency limits,
//! resolve the voice, reserve an upper-bound estimate atomically, call the engine, and settle
//! the length of the audio it produced, measured from the audio itself, in the same
//! transaction as the usage record.
//!
//! A request runs in its caller's task; admission, reservation, the engine call and the
//! settlement move to a task of their own when the client goes away, so it never leaves a
//! reservation unsettled; a node that dies is covered by the lease reaper; a node that shuts
//! down settles what is still in flight when its grace period ends.

mod admission;
mod detach;
mod measure;
mod owed;
mod refusals;
mod settle;
mod stream;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use odeadev_audio::AudioFormat;
use tokio::sync::mpsc;

use super::auth::Principal;
use crate::domain::options::{Emotion, Model};
use crate::domain::records::Voice;
use crate::domain::text::SpeechText;
use crate::engine::{Engine, EngineRegistry, SynthesisRequest};
use crate::error::ApiError;
use crate::limits::{Limiter, RateDecision, Slot};
use crate::service::voice_cache::VoiceCache;
use crate::store::{Store, UsageContext};

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
    /// Length of `audio`, measured from it.
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
    /// The user's rate-limit state after this request (`None` if the limiter was down).
    pub rate_limit: Option<RateDecision>,
}

/// One item of a streamed response.
#[derive(Debug)]
pub enum Frame {
    /// Audio bytes, in order.
    Audio(Bytes),
    /// The stream ended and was billed.
    Done {
        /// Length of the audio sent, measured from it.
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
    /// The user's rate-limit state after this request (`None` if the limiter was down).
    pub rate_limit: Option<RateDecision>,
}

/// A synthesis request that failed, with the user's rate-limit state for the response headers
/// (`None` when the request never reached the limiter or the limiter was down).
#[derive(Debug)]
pub struct SynthesisError {
    /// What the client gets.
    pub error: ApiError,
    /// The user's rate-limit state.
    pub rate_limit: Option<RateDecision>,
}

impl From<ApiError> for SynthesisError {
    fn from(error: ApiError) -> Self {
        SynthesisError {
            error,
            rate_limit: None,
        }
    }
}

impl From<SynthesisError> for ApiError {
    fn from(e: SynthesisError) -> Self {
        e.error
    }
}

/// What one admitted, reserved request carries through the engine call to its settlement.
struct Job {
    /// The usage record's request details; its id names the pending record.
    usage: UsageContext,
    estimate_ms: i64,
    engine: Arc<dyn Engine>,
    request: SynthesisRequest,
    voice: Voice,
    text_length: usize,
    plan: &'static str,
    /// The user's quota left when the request was admitted, for an answer whose settlement
    /// is owed.
    remaining_before_ms: i64,
    /// Given back when the request ends, before the client sees the end of the response.
    slot: Slot,
}

/// Synthesis use case.
#[derive(Clone)]
pub struct SynthesisService {
    store: Arc<dyn Store>,
    engines: EngineRegistry,
    lease: Duration,
    default_voice: Option<String>,
    limiter: Limiter,
    /// Usage records reserved by this node and not yet settled.
    in_flight: Arc<Mutex<HashSet<String>>>,
    /// Settlements the database did not take yet.
    owed: Arc<owed::OwedSettlements>,
    /// Refusals by a limit, counted until the next flush.
    refusals: Arc<refusals::RefusalCounts>,
    /// Recently resolved voices; shared with the admin service that changes voices.
    voices: Arc<VoiceCache>,
}

impl SynthesisService {
    /// The service over a store, a set of engines and the limits, resolving voices through
    /// `voices` (which whoever changes voices clears).
    pub fn new(
        store: Arc<dyn Store>,
        engines: EngineRegistry,
        lease: Duration,
        default_voice: Option<String>,
        limiter: Limiter,
        voices: Arc<VoiceCache>,
    ) -> SynthesisService {
        SynthesisService {
            store,
            engines,
            lease,
            default_voice,
            limiter,
            in_flight: Arc::default(),
            owed: Arc::default(),
            refusals: Arc::default(),
            voices,
        }
    }

    /// The engines, for readiness and listings.
    pub fn engines(&self) -> &EngineRegistry {
        &self.engines
    }

    /// The limiter, for readiness.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Speaks the whole text and bills it; errors carry the rate-limit state.
    pub async fn synthesize(
        &self,
        principal: &Principal,
        params: TtsParams,
        endpoint: &'static str,
        request_id: &str,
    ) -> Result<Spoken, SynthesisError> {
        self.started(
            principal,
            params,
            endpoint,
            request_id,
            |this, job, rate_limit| async move {
                match this.finish(job).await {
                    Ok(spoken) => Ok(Spoken {
                        rate_limit,
                        ..spoken
                    }),
                    Err(error) => Err(SynthesisError { error, rate_limit }),
                }
            },
        )
        .await
    }

    /// Admits and reserves the request, then hands its job to `then`: all in the caller's
    /// task, moved to a task of its own if the caller stops waiting (the client left), so
    /// that whatever was reserved is settled. Spawning up front would do the same, but costs
    /// every request a task and a cross-task wake-up.
    async fn started<T, Then, Work>(
        &self,
        principal: &Principal,
        params: TtsParams,
        endpoint: &'static str,
        request_id: &str,
        then: Then,
    ) -> Result<T, SynthesisError>
    where
        T: Send + 'static,
        Then: FnOnce(SynthesisService, Job, Option<RateDecision>) -> Work + Send + 'static,
        Work: std::future::Future<Output = Result<T, SynthesisError>> + Send,
    {
        let this = self.clone();
        let principal = principal.clone();
        let request_id = request_id.to_string();
        detach::FinishOnDrop::new(async move {
            let (job, rate_limit) = this
                .start(&principal, params, endpoint, &request_id)
                .await?;
            then(this, job, rate_limit).await
        })
        .await
    }

    async fn finish(&self, mut job: Job) -> Result<Spoken, ApiError> {
        let spoken = self.speak(&job).await;
        job.slot.release().await;
        spoken
    }

    async fn speak(&self, job: &Job) -> Result<Spoken, ApiError> {
        let started = Instant::now();
        let result = self.leased(job, job.engine.synthesize(&job.request)).await;
        self.record_engine_call(job, &result.as_ref().map(|_| ()), started);
        match result {
            Ok(done) => {
                let audio_ms = measure::measured_ms(job, &done);
                let billed = self.billable(job, audio_ms);
                let settled = self.settle_success(job, billed).await?;
                Ok(Spoken {
                    audio: done.audio,
                    audio_ms,
                    billed_ms: billed,
                    remaining_ms: settled,
                    voice: job.voice.clone(),
                    format: done.format,
                    sample_rate: done.sample_rate,
                    text_length: job.text_length,
                    rate_limit: None,
                })
            }
            Err(e) => Err(self.settle_failure(job, e).await),
        }
    }

    fn record_engine_call(
        &self,
        job: &Job,
        result: &Result<(), &crate::engine::EngineError>,
        started: Instant,
    ) {
        let outcome = match result {
            Ok(()) => "success",
            Err(e) => e.kind(),
        };
        crate::metrics::engine_call(
            job.voice.provider.as_str(),
            outcome,
            started.elapsed().as_secs_f64(),
        );
    }
}
