//! Before the engine: admission through the limits, voice resolution, and the atomic
//! quota reservation that writes the pending usage record.

use chrono::Utc;

use super::{Job, SynthesisError, SynthesisService, TtsParams};
use crate::domain::estimate::estimate_ms;
use crate::domain::options::Emotion;
use crate::domain::records::{UsageStatus, Voice};
use crate::engine::piper::NATURAL_DEFAULT_VOICE;
use crate::engine::{Provider, SynthesisRequest};
use crate::error::ApiError;
use crate::limits::{Admitted, RateDecision, Slot};
use crate::service::auth::Principal;
use crate::store::{Reservation, Settlement, StoreError, UsageContext, VoiceFilter};

impl SynthesisService {
    pub(super) async fn resolve_voice(&self, requested: Option<&str>) -> Result<Voice, ApiError> {
        if let Some(voice) = self.voices.get(requested) {
            return Ok(voice);
        }
        let voice = self.look_up_voice(requested).await?;
        self.voices.put(requested, &voice);
        Ok(voice)
    }

    async fn look_up_voice(&self, name: Option<&str>) -> Result<Voice, ApiError> {
        let name = name.or(self.default_voice.as_deref());
        if let Some(name) = name {
            return self
                .store
                .find_voice(name)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("voice '{name}' not found")));
        }
        // No default configured: MiniMax's first voice when it is configured, else the
        // natural local voice, else any voice that can speak (eSpeak's).
        let voices = self.store.list_voices(&VoiceFilter::default()).await?;
        let available: Vec<Voice> = voices
            .into_iter()
            .filter(|v| {
                self.engines
                    .voice_unavailable_reason(v.provider, &v.engine_voice_id)
                    .is_none()
            })
            .collect();
        let preferred = available
            .iter()
            .position(|v| v.provider == Provider::Minimax)
            .or_else(|| {
                available
                    .iter()
                    .position(|v| v.friendly_name == NATURAL_DEFAULT_VOICE)
            })
            .unwrap_or(0);
        available
            .into_iter()
            .nth(preferred)
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
        // One reason for every way a voice cannot be spoken here (no engine, the engine's
        // own state, a missing voice file), as the voice listing shows it.
        let reason = self
            .engines
            .voice_unavailable_reason(voice.provider, &voice.engine_voice_id);
        let engine = match (reason, self.engines.get(voice.provider)) {
            (None, Some(engine)) => engine.clone(),
            (reason, _) => {
                return Err(ApiError::EngineUnavailable {
                    detail: reason
                        .unwrap_or_else(|| voice.provider.not_configured_reason())
                        .into(),
                    cause: format!("{} engine unavailable", voice.provider.as_str()),
                })
            }
        };
        let estimate = estimate_ms(&params.text, params.speed);
        let context = UsageContext {
            id: uuid::Uuid::now_v7().to_string(),
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
        let reserved = match self.store.reserve(&context, estimate, lease_until).await {
            Ok(reserved) => reserved,
            Err(StoreError::Unanswered(cause)) => {
                // The reservation may land after this 503 (a hung server, a broken
                // connection): owe its release so it cannot hold quota until its lease runs
                // out. Its record says what happened; if the reservation never landed, the
                // record written instead keeps a late one from landing.
                self.owe(&context, unanswered_reservation());
                return Err(StoreError::Unanswered(cause).into());
            }
            Err(e) => return Err(e.into()),
        };
        match reserved {
            Reservation::Reserved => {}
            Reservation::Insufficient { available_ms } => {
                crate::metrics::quota_refused(principal.user.plan.as_str());
                return Err(ApiError::QuotaExceeded {
                    available_ms,
                    needed_ms: estimate,
                });
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
        self.track(&context.id);
        Ok(Job {
            plan: principal.user.plan.as_str(),
            remaining_before_ms: principal.user.remaining_ms(),
            usage: context,
            estimate_ms: estimate,
            engine,
            request,
            voice,
            text_length,
            slot: Slot::unlimited(),
        })
    }

    /// The rate and concurrency check every synthesis route passes first, before any
    /// database work; refusals by a limit are counted as `rate_limited` (see `refusals.rs`).
    async fn admit(&self, principal: &Principal) -> Result<Admitted, SynthesisError> {
        let admitted = self
            .limiter
            .admit_synthesis(&principal.user, &principal.limit_budget);
        let refused = match admitted.await {
            Ok(admitted) => return Ok(admitted),
            Err(refused) => refused,
        };
        if refused.reason.is_limit() {
            self.refusals.count(principal.user.id, chrono::Utc::now());
        }
        let error = ApiError::from(refused.reason);
        Err(SynthesisError {
            error,
            rate_limit: refused.rate,
        })
    }

    /// Admits and prepares a job holding its concurrency slot.
    pub(super) async fn start(
        &self,
        principal: &Principal,
        params: TtsParams,
        endpoint: &'static str,
        request_id: &str,
    ) -> Result<(Job, Option<RateDecision>), SynthesisError> {
        let Admitted { rate, mut slot } = self.admit(principal).await?;
        match self.prepare(principal, params, endpoint, request_id).await {
            Ok(mut job) => {
                job.slot = slot;
                Ok((job, rate))
            }
            Err(error) => {
                slot.release().await;
                Err(SynthesisError {
                    error,
                    rate_limit: rate,
                })
            }
        }
    }
}

/// How a request whose reservation got no answer is settled: failed, nothing billed.
fn unanswered_reservation() -> Settlement {
    Settlement {
        status: UsageStatus::Error,
        billed_ms: 0,
        error_code: Some("database_unavailable".into()),
        error_message: Some(
            "the database did not answer the reservation; nothing was billed".into(),
        ),
    }
}
