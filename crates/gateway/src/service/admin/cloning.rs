//! Admin: voice cloning — check the form and the sample, clone it at the engine that clones
//! (MiniMax), register the voice.
//!
//! MiniMax deletes a cloned voice that stays unused for [`CLONE_TTL_DAYS`] days, so the
//! voice is registered with that expiry.

use chrono::{Duration, Utc};
use odeadev_audio::decode_wav;

use super::voices::{description, name_taken, VoiceAdmin};
use crate::domain::audit::{action, target, Actor};
use crate::domain::field::InvalidField;
use crate::domain::options::Gender;
use crate::domain::voice::{CloneVoiceId, FriendlyName, LanguageCode, CLONE_TTL_DAYS};
use crate::engine::{CloneError, CloneSample, Provider};
use crate::error::ApiError;
use crate::service::voices::ListedVoice;
use crate::store::NewVoice;

/// Largest sample MiniMax accepts.
pub const MAX_SAMPLE_BYTES: usize = 20 * 1024 * 1024;

/// A clone as the admin's form gives it, before validation: absent or blank fields are
/// `None`.
#[derive(Debug, Clone, Default)]
pub struct CloneRequest {
    /// The audio sample.
    pub sample: Option<CloneSample>,
    /// Unique name clients will use.
    pub friendly_name: Option<String>,
    /// `en-US` form.
    pub language: Option<String>,
    /// `male`, `female` or `neutral`.
    pub gender: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// MiniMax voice id to register; generated when absent.
    pub voice_id: Option<String>,
}

/// A clone request whose fields passed their rules.
struct CloneForm {
    sample: CloneSample,
    friendly_name: String,
    language: String,
    gender: Gender,
    description: Option<String>,
    voice_id: Option<String>,
}

/// `value`, or "is required" naming `field`.
fn required<T>(field: &'static str, value: Option<T>) -> Result<T, InvalidField> {
    value.ok_or_else(|| InvalidField::new(field, "is required"))
}

/// Checks the form's fields, in the order the original service did (the sample's content
/// is checked later, once cloning is known to be possible).
fn check_form(request: CloneRequest) -> Result<CloneForm, ApiError> {
    let sample = request
        .sample
        .ok_or_else(|| InvalidField::new("file", "is required (the audio sample)"))?;
    let friendly_name = required("friendly_name", request.friendly_name)?;
    let friendly_name = FriendlyName::parse(&friendly_name)?.into_string();
    let language = LanguageCode::parse(&required("language", request.language)?)?;
    let gender = request
        .gender
        .as_deref()
        .and_then(Gender::parse)
        .ok_or_else(|| InvalidField::new("gender", "must be male, female or neutral"))?;
    Ok(CloneForm {
        sample,
        friendly_name,
        language: language.into_string(),
        gender,
        description: description(request.description)?,
        voice_id: request.voice_id,
    })
}

/// Checks the sample's size, type and (for WAV) length: MiniMax wants 10 s to 5 min.
fn check_sample(sample: &CloneSample) -> Result<(), InvalidField> {
    let bad = |message: String| Err(InvalidField::new("file", message));
    if sample.bytes.is_empty() {
        return bad("is empty".into());
    }
    if sample.bytes.len() > MAX_SAMPLE_BYTES {
        return bad("must be at most 20 MB".into());
    }
    let extension = sample
        .filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "wav" => {
            let Ok(pcm) = decode_wav(&sample.bytes) else {
                return bad("is not a readable WAV file".into());
            };
            let ms = pcm.duration_ms();
            if !(10_000..=300_000).contains(&ms) {
                return bad(format!(
                    "must be between 10 seconds and 5 minutes long (got {:.1} s)",
                    ms as f64 / 1000.0
                ));
            }
            Ok(())
        }
        "mp3" | "m4a" => Ok(()),
        _ => bad("must be an mp3, m4a or wav file".into()),
    }
}

impl VoiceAdmin {
    /// Clones a voice from the request's sample and registers it (`is_cloned`, with expiry),
    /// audited. 503 when this deployment cannot clone; 409 when the name or the voice id is
    /// taken.
    pub async fn clone_voice(
        &self,
        actor: &Actor,
        request: CloneRequest,
    ) -> Result<ListedVoice, ApiError> {
        let form = check_form(request)?;
        let engines = self.catalogue.engines();
        let cloner = engines
            .cloner()
            .map_err(|reason| ApiError::EngineUnavailable {
                detail: reason.into(),
                cause: "voice cloning needs MiniMax".into(),
            })?;
        check_sample(&form.sample)?;
        let voice_id = match form.voice_id {
            Some(id) => CloneVoiceId::parse(id)?,
            None => CloneVoiceId::generate(),
        };
        // Before the upload, so that a taken name leaves no unregistered clone at MiniMax.
        if self.store.find_voice(&form.friendly_name).await?.is_some() {
            return Err(name_taken(&form.friendly_name));
        }
        cloner
            .clone_voice(form.sample, voice_id.as_str())
            .await
            .map_err(|e| match e {
                CloneError::Rejected(reason) => ApiError::field("file", reason),
                CloneError::VoiceIdTaken => ApiError::Conflict(format!(
                    "voice id {} already exists at MiniMax",
                    voice_id.as_str()
                )),
                CloneError::Engine(e) => e.into(),
            })?;
        let voice = NewVoice {
            friendly_name: form.friendly_name,
            provider: Provider::Minimax,
            engine_voice_id: voice_id.into_string(),
            language: form.language,
            gender: form.gender,
            description: form.description,
            is_cloned: true,
            expires_at: Some(Utc::now() + Duration::days(CLONE_TTL_DAYS)),
        };
        let audit = actor
            .entry(action::VOICE_CLONE, target::VOICE)
            .details(serde_json::json!({
                "friendly_name": voice.friendly_name,
                "engine_voice_id": voice.engine_voice_id,
                "language": voice.language,
                "gender": voice.gender.as_str(),
                "expires_at": voice.expires_at,
            }));
        self.register(voice, audit).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample(filename: &str, bytes: &'static [u8]) -> CloneSample {
        CloneSample {
            bytes: bytes::Bytes::from_static(bytes),
            filename: filename.into(),
        }
    }

    #[test]
    fn samples_must_be_a_known_type_and_not_empty() {
        assert!(check_sample(&sample("a.mp3", b"ID3")).is_ok());
        assert!(check_sample(&sample("a.M4A", b"....")).is_ok());
        let message = |s: CloneSample| check_sample(&s).unwrap_err().to_string();
        assert_eq!(message(sample("a.mp3", b"")), "file: is empty");
        assert_eq!(
            message(sample("a.ogg", b"OggS")),
            "file: must be an mp3, m4a or wav file"
        );
        assert_eq!(
            message(sample("a.wav", b"not a wav")),
            "file: is not a readable WAV file"
        );
    }
}
