//! The voice catalogue: voices with whether this server can speak each one now, for clients
//! and admins, and the voice an OpenAI voice name stands for.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::openai::stand_ins;
use crate::domain::options::Gender;
use crate::domain::records::Voice;
use crate::domain::voice::LanguageCode;
use crate::engine::EngineRegistry;
use crate::error::ApiError;
use crate::store::{Store, VoiceFilter};

/// A voice and, when this server cannot speak it now, why (client-safe).
#[derive(Debug, Clone)]
pub struct ListedVoice {
    /// The voice.
    pub voice: Voice,
    /// `None` when available.
    pub unavailable_reason: Option<&'static str>,
}

/// Voices as the engines of this deployment see them.
#[derive(Clone)]
pub struct VoiceCatalogue {
    store: Arc<dyn Store>,
    engines: EngineRegistry,
}

impl VoiceCatalogue {
    /// The catalogue of `store`'s voices, spoken by `engines`.
    pub fn new(store: Arc<dyn Store>, engines: EngineRegistry) -> Self {
        VoiceCatalogue { store, engines }
    }

    /// The engines, for the admin service that clones voices.
    pub fn engines(&self) -> &EngineRegistry {
        &self.engines
    }

    /// `voice` with its availability on this server.
    pub fn listed(&self, voice: Voice) -> ListedVoice {
        let unavailable_reason = self
            .engines
            .voice_unavailable_reason(voice.provider, &voice.engine_voice_id);
        ListedVoice {
            voice,
            unavailable_reason,
        }
    }

    /// Active voices, optionally of one `language` (`en-US` form) and `gender`.
    pub async fn active(
        &self,
        language: Option<String>,
        gender: Option<Gender>,
    ) -> Result<Vec<ListedVoice>, ApiError> {
        self.list(language, gender, false).await
    }

    /// Every voice, inactive and cloned ones included (the admin listing).
    pub async fn all(
        &self,
        language: Option<String>,
        gender: Option<Gender>,
    ) -> Result<Vec<ListedVoice>, ApiError> {
        self.list(language, gender, true).await
    }

    async fn list(
        &self,
        language: Option<String>,
        gender: Option<Gender>,
        include_inactive: bool,
    ) -> Result<Vec<ListedVoice>, ApiError> {
        let language = language
            .as_deref()
            .map(LanguageCode::parse)
            .transpose()?
            .map(LanguageCode::into_string);
        let filter = VoiceFilter {
            language,
            gender,
            include_inactive,
        };
        let voices = self.store.list_voices(&filter).await?;
        Ok(voices.into_iter().map(|v| self.listed(v)).collect())
    }

    /// The friendly name of the voice an OpenAI `voice` means: one of ours by that name, else
    /// the operator's mapping in `overrides`, else the first available built-in stand-in.
    pub async fn resolve_openai_voice(
        &self,
        requested: &str,
        overrides: &HashMap<String, String>,
    ) -> Result<String, ApiError> {
        if let Some(voice) = self.store.find_voice(requested).await? {
            return Ok(voice.friendly_name);
        }
        let candidates: Vec<String> = match overrides.get(requested) {
            Some(ours) => vec![ours.clone()],
            None => stand_ins(requested)
                .map(|names| names.iter().map(|n| (*n).to_string()).collect())
                .ok_or_else(|| ApiError::field("voice", format!("unknown voice '{requested}'")))?,
        };
        for name in &candidates {
            if let Some(voice) = self.store.find_voice(name).await? {
                if self
                    .engines
                    .voice_unavailable_reason(voice.provider, &voice.engine_voice_id)
                    .is_none()
                {
                    return Ok(voice.friendly_name);
                }
            }
        }
        Err(ApiError::field(
            "voice",
            format!("no voice standing in for '{requested}' is available on this server"),
        ))
    }
}
