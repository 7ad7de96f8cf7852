//! Voice cloning for admins: check the sample, clone it at MiniMax, register the voice.
//!
//! MiniMax deletes a cloned voice that stays unused for 7 days, so the voice is registered
//! with that expiry.

use std::sync::Arc;

use chrono::{Duration, Utc};
use odeadev_audio::decode_wav;

use crate::domain::audit::AuditEntry;
use crate::domain::options::Gender;
use crate::domain::records::Voice;
use crate::engine::{CloneError, CloneSample, EngineRegistry, Provider};
use crate::error::ApiError;
use crate::store::{NewVoice, Store, StoreError};

/// Largest sample MiniMax accepts.
pub const MAX_SAMPLE_BYTES: usize = 20 * 1024 * 1024;
/// Days a cloned voice lives unused.
pub const CLONE_TTL_DAYS: i64 = 7;

/// A validated clone request (friendly name, language and gender already checked).
pub struct CloneRequest {
    /// The audio sample.
    pub sample: CloneSample,
    /// Unique name clients will use.
    pub friendly_name: String,
    /// `en-US` form.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Description.
    pub description: Option<String>,
    /// MiniMax voice id to register; generated when absent.
    pub voice_id: Option<String>,
}

/// MiniMax's voice id rule: 8–256 characters, starts with a letter, letters/digits/`-`/`_`,
/// does not end with `-` or `_`.
pub fn valid_voice_id(id: &str) -> bool {
    (8..=256).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !id.ends_with(['-', '_'])
}

/// Checks the sample's size, type and (for WAV) length: MiniMax wants 10 s to 5 min.
pub fn check_sample(sample: &CloneSample) -> Result<(), ApiError> {
    if sample.bytes.is_empty() {
        return Err(ApiError::field("file", "is empty"));
    }
    if sample.bytes.len() > MAX_SAMPLE_BYTES {
        return Err(ApiError::field("file", "must be at most 20 MB"));
    }
    let extension = sample
        .filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "wav" => {
            let pcm = decode_wav(&sample.bytes)
                .map_err(|_| ApiError::field("file", "is not a readable WAV file"))?;
            let ms = pcm.duration_ms();
            if !(10_000..=300_000).contains(&ms) {
                return Err(ApiError::field(
                    "file",
                    format!(
                        "must be between 10 seconds and 5 minutes long (got {:.1} s)",
                        ms as f64 / 1000.0
                    ),
                ));
            }
            Ok(())
        }
        "mp3" | "m4a" => Ok(()),
        _ => Err(ApiError::field("file", "must be an mp3, m4a or wav file")),
    }
}

/// Clones a voice and registers it.
pub async fn clone_voice(
    store: &Arc<dyn Store>,
    engines: &EngineRegistry,
    request: CloneRequest,
    audit: AuditEntry,
) -> Result<Voice, ApiError> {
    let cloner = engines
        .cloner()
        .map_err(|reason| ApiError::EngineUnavailable {
            detail: reason.into(),
            cause: "voice cloning needs MiniMax".into(),
        })?;
    check_sample(&request.sample)?;
    let voice_id = match request.voice_id {
        Some(id) if valid_voice_id(&id) => id,
        Some(_) => {
            return Err(ApiError::field(
                "voice_id",
                "must be 8 to 256 characters of letters, digits, '-' or '_', start with a letter and not end with '-' or '_'",
            ))
        }
        None => format!("odea{}", uuid::Uuid::now_v7().simple()),
    };
    if store.find_voice(&request.friendly_name).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "a voice named {} already exists",
            request.friendly_name
        )));
    }
    cloner
        .clone_voice(request.sample, &voice_id)
        .await
        .map_err(|e| match e {
            CloneError::Rejected(reason) => ApiError::field("file", reason),
            CloneError::VoiceIdTaken => {
                ApiError::Conflict(format!("voice id {voice_id} already exists at MiniMax"))
            }
            CloneError::Engine(e) => e.into(),
        })?;
    let voice = NewVoice {
        friendly_name: request.friendly_name.clone(),
        provider: Provider::Minimax,
        engine_voice_id: voice_id,
        language: request.language,
        gender: request.gender,
        description: request.description,
        is_cloned: true,
        expires_at: Some(Utc::now() + Duration::days(CLONE_TTL_DAYS)),
    };
    let audit = audit.details(serde_json::json!({
        "friendly_name": voice.friendly_name,
        "engine_voice_id": voice.engine_voice_id,
        "language": voice.language,
        "gender": voice.gender.as_str(),
        "expires_at": voice.expires_at,
    }));
    store
        .create_voice_audited(voice, audit)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict(format!(
                "a voice named {} already exists",
                request.friendly_name
            )),
            other => other.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::valid_voice_id;

    #[test]
    fn voice_id_rule() {
        assert!(valid_voice_id("MiniMax001"));
        assert!(valid_voice_id("odea_voice-1"));
        assert!(!valid_voice_id("short"));
        assert!(!valid_voice_id("1startsWithDigit"));
        assert!(!valid_voice_id("ends_with_"));
        assert!(!valid_voice_id("has space in it"));
    }
}
