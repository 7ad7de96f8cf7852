//! Admin: voice registration (a voice an engine already has, e.g. a MiniMax system voice).
//! Cloning, which registers the voice it makes, is in `cloning`.

use std::sync::Arc;

use crate::domain::audit::{action, target, Actor, AuditEntry};
use crate::domain::options::Gender;
use crate::domain::voice::{EngineVoiceId, FriendlyName, LanguageCode, VoiceDescription};
use crate::engine::Provider;
use crate::error::ApiError;
use crate::service::voice_cache::VoiceCache;
use crate::service::voices::{ListedVoice, VoiceCatalogue};
use crate::store::{NewVoice, Store, StoreError};

/// A voice as an admin registers it, before validation.
#[derive(Debug, Clone)]
pub struct NewVoiceRequest {
    /// Unique name clients will use.
    pub friendly_name: String,
    /// The engine's voice id.
    pub engine_voice_id: String,
    /// `en-US` form.
    pub language: String,
    /// Gender.
    pub gender: Gender,
    /// Description.
    pub description: Option<String>,
    /// Made by cloning elsewhere.
    pub is_cloned: bool,
    /// Engine (default `minimax`).
    pub provider: Option<Provider>,
}

/// Registers and clones voices.
#[derive(Clone)]
pub struct VoiceAdmin {
    pub(super) store: Arc<dyn Store>,
    pub(super) catalogue: VoiceCatalogue,
    /// Voices the synthesis service resolved lately; forgotten when a voice is added.
    recent_voices: Arc<VoiceCache>,
}

impl VoiceAdmin {
    /// Voice administration over `store`, answering through `catalogue`, clearing
    /// `recent_voices`.
    pub fn new(
        store: Arc<dyn Store>,
        catalogue: VoiceCatalogue,
        recent_voices: Arc<VoiceCache>,
    ) -> Self {
        VoiceAdmin {
            store,
            catalogue,
            recent_voices,
        }
    }

    /// Registers a voice, audited (409 for a taken friendly name).
    pub async fn register_voice(
        &self,
        actor: &Actor,
        request: NewVoiceRequest,
    ) -> Result<ListedVoice, ApiError> {
        let voice = NewVoice {
            friendly_name: FriendlyName::parse(&request.friendly_name)?.into_string(),
            engine_voice_id: EngineVoiceId::parse(&request.engine_voice_id)?.into_string(),
            language: LanguageCode::parse(&request.language)?.into_string(),
            description: description(request.description)?,
            provider: request.provider.unwrap_or(Provider::Minimax),
            gender: request.gender,
            is_cloned: request.is_cloned,
            expires_at: None,
        };
        let audit = actor
            .entry(action::VOICE_CREATE, target::VOICE)
            .details(serde_json::json!({
                "friendly_name": voice.friendly_name,
                "provider": voice.provider.as_str(),
                "engine_voice_id": voice.engine_voice_id,
                "language": voice.language,
                "gender": voice.gender.as_str(),
                "is_cloned": voice.is_cloned,
            }));
        self.register(voice, audit).await
    }

    /// Stores a validated voice with its audit entry, then forgets the voices resolved lately
    /// so that it is usable at once.
    pub(super) async fn register(
        &self,
        voice: NewVoice,
        audit: AuditEntry,
    ) -> Result<ListedVoice, ApiError> {
        let name = voice.friendly_name.clone();
        let voice = match self.store.create_voice(voice, audit).await {
            Ok(voice) => voice,
            Err(StoreError::Conflict(_)) => return Err(name_taken(&name)),
            Err(other) => return Err(other.into()),
        };
        self.recent_voices.clear();
        Ok(self.catalogue.listed(voice))
    }
}

/// A voice's description, checked when given.
pub(super) fn description(raw: Option<String>) -> Result<Option<String>, ApiError> {
    Ok(raw
        .map(VoiceDescription::parse)
        .transpose()?
        .map(VoiceDescription::into_string))
}

/// The answer when a friendly name is taken.
pub(super) fn name_taken(name: &str) -> ApiError {
    ApiError::Conflict(format!("a voice named {name} already exists"))
}
