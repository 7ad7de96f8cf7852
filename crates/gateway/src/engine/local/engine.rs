//! [`LocalEngine`]: the `Engine` adapter that speaks through eSpeak NG on this machine.
//!
//! One request = one slot of a bounded pool, then one eSpeak process per spoken segment
//! (the text split on pause markers), all within the request's deadline; then decoding,
//! joining, resampling and encoding on a blocking thread.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::params::EspeakParams;
use super::pauses::{split_pauses, Piece};
use super::process::{self, Probe};
use super::render::{render, Part, Rendered};
use super::settings::LocalEngineSettings;
use super::text::plain_text;
use super::voices::validate_voice_id;
use crate::engine::{
    whole_audio_stream, AudioStream, Engine, EngineError, Provider, Synthesis, SynthesisRequest,
};

/// Shown to clients when the program cannot be started.
const NOT_INSTALLED: &str = "the local speech engine (espeak-ng) is not installed";
/// Shown to clients when the program starts but `--version` fails.
const NOT_WORKING: &str = "the local speech engine (espeak-ng) is not working";

/// The local speech engine: eSpeak NG run as a subprocess, at most
/// `max_concurrent` syntheses at once.
pub struct LocalEngine {
    settings: LocalEngineSettings,
    slots: Arc<Semaphore>,
    unavailable: Option<&'static str>,
}

impl LocalEngine {
    /// Probes `settings.program` once (`--version`) and builds the engine. A missing or
    /// broken program does not fail construction: the engine then reports an
    /// [`unavailable_reason`](Engine::unavailable_reason) and refuses to synthesize.
    pub async fn new(settings: LocalEngineSettings) -> LocalEngine {
        let unavailable = match process::probe(&settings.program).await {
            Probe::Available(version) => {
                tracing::info!(program = %settings.program.display(), %version, "local engine ready");
                None
            }
            Probe::Missing(error) => {
                tracing::warn!(program = %settings.program.display(), %error, "espeak-ng not found; local engine disabled");
                Some(NOT_INSTALLED)
            }
            Probe::Broken(error) => {
                tracing::warn!(program = %settings.program.display(), %error, "espeak-ng probe failed; local engine disabled");
                Some(NOT_WORKING)
            }
        };
        let slots = settings.max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        LocalEngine {
            slots: Arc::new(Semaphore::new(slots)),
            settings,
            unavailable,
        }
    }

    /// The settings this engine runs with.
    pub fn settings(&self) -> &LocalEngineSettings {
        &self.settings
    }

    async fn run(&self, request: &SynthesisRequest) -> Result<Rendered, EngineError> {
        if let Some(reason) = self.unavailable {
            return Err(EngineError::NotConfigured(reason));
        }
        let voice = validate_voice_id(&request.engine_voice_id)?;
        let pieces = split_pauses(&request.text);
        if pieces.is_empty() {
            return Err(EngineError::InvalidInput("nothing to speak".to_owned()));
        }
        let params = EspeakParams::from_controls(request.speed, request.pitch, request.volume);
        let mut args: Vec<String> = ["--stdout", "--stdin", "-b", "1", "-z", "-v", voice]
            .into_iter()
            .map(str::to_owned)
            .collect();
        args.extend(params.args());

        let deadline = Instant::now() + self.settings.timeout;
        let _slot = tokio::time::timeout_at(deadline, self.slots.acquire())
            .await
            .map_err(|_| EngineError::Timeout)?
            .map_err(|_| EngineError::Unavailable("local engine pool closed".to_owned()))?;

        let mut parts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            parts.push(match piece {
                Piece::Speech(segment) => Part::Speech(
                    process::speak(
                        &self.settings.program,
                        &args,
                        &plain_text(segment),
                        deadline,
                    )
                    .await?,
                ),
                Piece::Pause(ms) => Part::Pause(ms),
            });
        }

        let (format, sample_rate, bitrate) = (request.format, request.sample_rate, request.bitrate);
        let rendered =
            tokio::task::spawn_blocking(move || render(parts, format, sample_rate, bitrate))
                .await
                .map_err(|error| {
                    EngineError::Unavailable(format!("local render task failed: {error}"))
                })??;
        tracing::debug!(
            request_id = %request.request_id,
            voice,
            audio_ms = rendered.audio_ms,
            bytes = rendered.audio.len(),
            "local synthesis done"
        );
        Ok(rendered)
    }
}

#[async_trait]
impl Engine for LocalEngine {
    fn provider(&self) -> Provider {
        Provider::Local
    }

    fn unavailable_reason(&self) -> Option<&'static str> {
        self.unavailable
    }

    async fn synthesize(&self, request: &SynthesisRequest) -> Result<Synthesis, EngineError> {
        let rendered = self.run(request).await?;
        Ok(Synthesis::as_requested(
            request,
            rendered.audio,
            rendered.audio_ms,
        ))
    }

    async fn synthesize_stream(
        &self,
        request: &SynthesisRequest,
    ) -> Result<AudioStream, EngineError> {
        let rendered = self.run(request).await?;
        Ok(whole_audio_stream(
            Bytes::from(rendered.audio),
            rendered.audio_ms,
        ))
    }
}
