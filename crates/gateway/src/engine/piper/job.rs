//! One Piper synthesis under way: its parts in speaking order, spoken one by one, whole or
//! streamed as each sentence is ready.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use odeadev_audio::{resample, Pcm, StreamEncoder};
use tokio::time::Instant;

use super::engine::{to_i16, SessionSlot};
use super::inference::VoiceModel;
use super::phonemes::{phonemize_clause, sentence_phonemes};
use super::sentences::Clause;
use crate::engine::{EngineError, StreamEvent};

/// A piece of the text in speaking order.
pub(super) enum Part {
    Silence(u32),
    Sentence(Vec<Clause>),
}

/// One synthesis under way: its voice, slot, session and what is left to speak.
pub(super) struct Job {
    pub(super) model: Arc<VoiceModel>,
    pub(super) espeak: PathBuf,
    pub(super) session: SessionSlot,
    pub(super) _permit: tokio::sync::OwnedSemaphorePermit,
    pub(super) deadline: Instant,
    pub(super) speed: f32,
    pub(super) volume: f32,
    pub(super) parts: Vec<Part>,
}

impl Job {
    /// One part's samples at the voice's rate: silence, or a sentence's clauses phonemized
    /// side by side and then one model run on a blocking thread.
    pub(super) async fn speak(&self, part: &Part) -> Result<Vec<i16>, EngineError> {
        let sentence = match part {
            Part::Silence(ms) => {
                return Ok(Pcm::silence(u64::from(*ms), self.model.voice.sample_rate).samples)
            }
            Part::Sentence(sentence) => sentence,
        };
        let voice = &self.model.voice.espeak_voice;
        let ipa = futures::future::try_join_all(
            sentence
                .iter()
                .map(|clause| phonemize_clause(&self.espeak, voice, &clause.text, self.deadline)),
        )
        .await?;
        let clauses: Vec<(String, Option<char>)> = ipa
            .into_iter()
            .zip(sentence.iter().map(|c| c.terminator))
            .collect();
        let ids = self
            .model
            .voice
            .phoneme_ids
            .ids(&sentence_phonemes(&clauses));
        let (model, session, speed) = (self.model.clone(), self.session.index, self.speed);
        let run = tokio::task::spawn_blocking(move || model.infer(session, ids, speed));
        let audio = tokio::time::timeout_at(self.deadline, run)
            .await
            .map_err(|_| EngineError::Timeout)?
            .map_err(|e| EngineError::Unavailable(format!("piper inference task failed: {e}")))?
            .map_err(EngineError::BadResponse)?;
        Ok(to_i16(&audio, self.volume).collect())
    }

    /// Speaks part after part into `sender` as `encoder` writes them, then `Finished`, or
    /// the error that stopped it; stops when the receiver is gone (the client left).
    pub(super) async fn stream(self, encoder: StreamEncoder, sample_rate: u32, sender: Sender) {
        if let Err(error) = self.stream_into(encoder, sample_rate, &sender).await {
            let _ = sender.send(Err(error)).await;
        }
    }

    async fn stream_into(
        &self,
        mut encoder: StreamEncoder,
        sample_rate: u32,
        sender: &Sender,
    ) -> Result<(), EngineError> {
        let mut samples_out: u64 = 0;
        for part in &self.parts {
            let pcm = Pcm {
                samples: self.speak(part).await?,
                sample_rate: self.model.voice.sample_rate,
            };
            // Resampling and encoding are CPU work too: off the async workers, the encoder
            // going there and back.
            let (returned, encoded) = tokio::task::spawn_blocking(move || {
                let encoded = resample(&pcm, sample_rate).and_then(|out| {
                    let samples = out.samples.len() as u64;
                    encoder.encode(&out.samples).map(|bytes| (bytes, samples))
                });
                (encoder, encoded)
            })
            .await
            .map_err(|e| EngineError::Unavailable(format!("piper encoding task failed: {e}")))?;
            encoder = returned;
            let (bytes, samples) = encoded.map_err(encoding_failed)?;
            samples_out += samples;
            if !send_audio(sender, bytes).await {
                return Ok(());
            }
        }
        if !send_audio(sender, encoder.finish().map_err(encoding_failed)?).await {
            return Ok(());
        }
        let audio_ms = samples_out * 1000 / u64::from(sample_rate.max(1));
        let _ = sender.send(Ok(StreamEvent::Finished { audio_ms })).await;
        Ok(())
    }
}

/// Where a streamed synthesis sends its events.
type Sender = tokio::sync::mpsc::Sender<Result<StreamEvent, EngineError>>;

/// Sends `bytes` unless empty (LAME may hold a short sentence's samples until the next);
/// `false` when the receiver is gone.
async fn send_audio(sender: &Sender, bytes: Vec<u8>) -> bool {
    bytes.is_empty()
        || sender
            .send(Ok(StreamEvent::Audio(Bytes::from(bytes))))
            .await
            .is_ok()
}

fn encoding_failed(error: odeadev_audio::AudioError) -> EngineError {
    EngineError::BadResponse(format!("encoding: {error}"))
}
