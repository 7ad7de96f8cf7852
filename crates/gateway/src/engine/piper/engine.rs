//! [`PiperEngine`]: the `Engine` adapter that speaks Piper voices with ONNX Runtime.
//!
//! A request takes one slot of a bounded pool (waiting at most `queue_timeout`, else
//! `EngineError::Busy`), then speaks its text sentence by sentence: eSpeak NG phonemizes
//! each clause (processes run side by side), the sentence's ids go through one model run on
//! a blocking thread, pauses become silence, and the joined samples are resampled and
//! encoded as the request asks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use odeadev_audio::{encode, resample, Pcm, StreamEncoder};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::inference::VoiceModel;
use super::job::{Job, Part};
use super::sentences::sentences;
use super::voices::discover;
use crate::engine::local::{split_pauses, Piece};
use crate::engine::{
    whole_audio_stream, AudioStream, Engine, EngineError, Provider, Synthesis, SynthesisRequest,
};

/// Shown to clients when no Piper voice could be loaded.
const NO_VOICES: &str = "the Piper engine has no usable voice on this server (run `make models`)";
/// Shown to clients for a registered voice whose model is not loaded.
const VOICE_MISSING: &str =
    "this Piper voice's model is missing or could not be loaded on this server";

/// How to run Piper.
#[derive(Debug, Clone)]
pub struct PiperSettings {
    /// Folder searched for `*.onnx` voices with their `.onnx.json` (`ODEADEV_MODELS_DIR`).
    pub models_dir: PathBuf,
    /// The ONNX Runtime shared library (`ODEADEV_ONNXRUNTIME`).
    pub onnxruntime: PathBuf,
    /// The eSpeak NG program that phonemizes.
    pub espeak: PathBuf,
    /// Syntheses at once, and sessions per voice (`ODEADEV_LOCAL_MAX_CONCURRENT`).
    pub max_concurrent: usize,
    /// Longest wait for a free slot before `EngineError::Busy`.
    pub queue_timeout: Duration,
    /// Longest one synthesis may take, its wait included.
    pub timeout: Duration,
}

/// Piper voices on ONNX Runtime, at most `max_concurrent` syntheses at once.
pub struct PiperEngine {
    settings: PiperSettings,
    voices: HashMap<String, Arc<VoiceModel>>,
    slots: Arc<Semaphore>,
    /// Which session of a voice each slot uses: permits are numbered by this queue.
    free_sessions: Arc<std::sync::Mutex<Vec<usize>>>,
    unavailable: Option<&'static str>,
}

impl PiperEngine {
    /// Finds and loads every voice under the models folder (on a blocking thread: loading
    /// takes a fraction of a second per session). Voices that cannot be loaded are logged
    /// and left out; with none, the engine reports itself unavailable.
    pub async fn new(settings: PiperSettings) -> PiperEngine {
        let sessions = settings.max_concurrent.clamp(1, 64);
        let load_settings = settings.clone();
        let loaded = tokio::task::spawn_blocking(move || load_all(&load_settings, sessions))
            .await
            .unwrap_or_else(|error| {
                tracing::error!(%error, "loading the piper voices failed; piper engine disabled");
                Vec::new()
            });
        let voices: HashMap<_, _> = loaded
            .into_iter()
            .map(|model| (model.voice.id.clone(), Arc::new(model)))
            .collect();
        let unavailable = voices.is_empty().then_some(NO_VOICES);
        PiperEngine {
            settings,
            voices,
            slots: Arc::new(Semaphore::new(sessions)),
            free_sessions: Arc::new(std::sync::Mutex::new((0..sessions).collect())),
            unavailable,
        }
    }

    /// The engine ids of the voices loaded (their models' file stems, `en_US-joe-medium`),
    /// sorted.
    pub fn voice_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.voices.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Everything one synthesis needs, its slot and session taken (or `Busy`).
    async fn start(&self, request: &SynthesisRequest) -> Result<Job, EngineError> {
        if let Some(reason) = self.unavailable {
            return Err(EngineError::NotConfigured(reason));
        }
        let model = self
            .voices
            .get(&request.engine_voice_id)
            .cloned()
            .ok_or(EngineError::NotConfigured(VOICE_MISSING))?;
        let mut parts = Vec::new();
        for piece in split_pauses(&request.text) {
            match piece {
                Piece::Pause(ms) => parts.push(Part::Silence(ms)),
                Piece::Speech(text) => {
                    parts.extend(sentences(text).into_iter().map(Part::Sentence))
                }
            }
        }
        if parts.is_empty() {
            return Err(EngineError::InvalidInput("nothing to speak".to_owned()));
        }
        let deadline = Instant::now() + self.settings.timeout;
        let queue_deadline =
            Instant::now() + self.settings.queue_timeout.min(self.settings.timeout);
        let permit = tokio::time::timeout_at(queue_deadline, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| EngineError::Busy)?
            .map_err(|_| EngineError::Unavailable("piper pool closed".to_owned()))?;
        let session = SessionSlot::take(&self.free_sessions)?;
        Ok(Job {
            model,
            espeak: self.settings.espeak.clone(),
            session,
            _permit: permit,
            deadline,
            speed: request.speed,
            volume: request.volume,
            parts,
        })
    }

    /// The whole text, rendered and encoded as the request asks.
    async fn run(&self, request: &SynthesisRequest) -> Result<(Vec<u8>, u64), EngineError> {
        let job = self.start(request).await?;
        let mut samples: Vec<i16> = Vec::new();
        for part in &job.parts {
            samples.extend(job.speak(part).await?);
        }
        let pcm = Pcm {
            samples,
            sample_rate: job.model.voice.sample_rate,
        };
        let (format, sample_rate, bitrate) = (request.format, request.sample_rate, request.bitrate);
        tokio::task::spawn_blocking(move || {
            let output = resample(&pcm, sample_rate)
                .map_err(|e| EngineError::BadResponse(format!("resampling: {e}")))?;
            let audio = encode(&output, format, bitrate)
                .map_err(|e| EngineError::BadResponse(format!("encoding: {e}")))?;
            Ok((audio, output.duration_ms()))
        })
        .await
        .map_err(|e| EngineError::Unavailable(format!("piper render task failed: {e}")))?
    }
}

/// A session index taken from the free list for one synthesis, given back on drop.
pub(super) struct SessionSlot {
    pub(super) index: usize,
    free: Arc<std::sync::Mutex<Vec<usize>>>,
}

impl SessionSlot {
    fn take(free: &Arc<std::sync::Mutex<Vec<usize>>>) -> Result<SessionSlot, EngineError> {
        let index = free
            .lock()
            .map_err(|_| EngineError::Unavailable("piper session list poisoned".to_owned()))?
            .pop()
            // The semaphore has as many permits as there are sessions.
            .ok_or_else(|| EngineError::Unavailable("no free piper session".to_owned()))?;
        Ok(SessionSlot {
            index,
            free: free.clone(),
        })
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        if let Ok(mut free) = self.free.lock() {
            free.push(self.index);
        }
    }
}

/// Loads every voice found, `sessions` sessions each; logs the ones that fail.
fn load_all(settings: &PiperSettings, sessions: usize) -> Vec<VoiceModel> {
    let (found, broken) = discover(&settings.models_dir);
    for (path, reason) in broken {
        tracing::warn!(model = %path.display(), reason, "piper voice left out");
    }
    if found.is_empty() {
        tracing::info!(dir = %settings.models_dir.display(), "no piper voices found");
    }
    let mut loaded = Vec::new();
    for voice in found {
        let id = voice.id.clone();
        match VoiceModel::load(&settings.onnxruntime, voice, sessions) {
            Ok(model) => {
                tracing::info!(voice = %id, sessions, "piper voice loaded");
                loaded.push(model);
            }
            Err(reason) => tracing::warn!(voice = %id, reason, "piper voice left out"),
        }
    }
    loaded
}

/// Float samples to 16-bit, scaled by the request's volume and clipped.
pub(super) fn to_i16(audio: &[f32], volume: f32) -> impl Iterator<Item = i16> + '_ {
    let gain = 32_767.0 * volume;
    audio
        .iter()
        .map(move |&s| (s * gain).clamp(-32_768.0, 32_767.0) as i16)
}

#[async_trait]
impl Engine for PiperEngine {
    fn provider(&self) -> Provider {
        Provider::Piper
    }

    fn unavailable_reason(&self) -> Option<&'static str> {
        self.unavailable
    }

    fn voice_unavailable_reason(&self, engine_voice_id: &str) -> Option<&'static str> {
        self.unavailable
            .or_else(|| (!self.voices.contains_key(engine_voice_id)).then_some(VOICE_MISSING))
    }

    async fn synthesize(&self, request: &SynthesisRequest) -> Result<Synthesis, EngineError> {
        let (audio, audio_ms) = self.run(request).await?;
        Ok(Synthesis::as_requested(request, audio, audio_ms))
    }

    async fn synthesize_stream(
        &self,
        request: &SynthesisRequest,
    ) -> Result<AudioStream, EngineError> {
        let encoder = match StreamEncoder::new(request.format, request.sample_rate, request.bitrate)
        {
            Some(encoder) => {
                encoder.map_err(|e| EngineError::BadResponse(format!("encoding: {e}")))?
            }
            // WAV and FLAC headers give the whole length: those are rendered first.
            None => {
                let (audio, audio_ms) = self.run(request).await?;
                return Ok(whole_audio_stream(Bytes::from(audio), audio_ms));
            }
        };
        // Taken before the stream is returned, so that a busy engine refuses at once.
        let job = self.start(request).await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        tokio::spawn(job.stream(encoder, request.sample_rate, sender));
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
            receiver,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_scaled_by_volume_and_clipped() {
        let audio = [0.5, -1.0, 2.0, 0.0];
        assert_eq!(
            to_i16(&audio, 1.0).collect::<Vec<_>>(),
            vec![16_383, -32_767, 32_767, 0]
        );
        assert_eq!(
            to_i16(&audio, 2.0).collect::<Vec<_>>(),
            vec![32_767, -32_768, 32_767, 0]
        );
    }
}
