//! The set of engines this deployment has, looked up by provider.

use std::sync::Arc;

use super::{Engine, Provider, VoiceCloner};

/// Engines by provider. A provider without an engine is "not configured".
#[derive(Clone, Default)]
pub struct EngineRegistry {
    minimax: Option<Arc<dyn Engine>>,
    local: Option<Arc<dyn Engine>>,
    piper: Option<Arc<dyn Engine>>,
    cloner: Option<Arc<dyn VoiceCloner>>,
}

impl EngineRegistry {
    /// Registers `engine` under its own provider, replacing any earlier one.
    pub fn with(mut self, engine: Arc<dyn Engine>) -> Self {
        match engine.provider() {
            Provider::Minimax => self.minimax = Some(engine),
            Provider::Local => self.local = Some(engine),
            Provider::Piper => self.piper = Some(engine),
        }
        self
    }

    /// Registers the engine that clones voices.
    pub fn with_cloner(mut self, cloner: Arc<dyn VoiceCloner>) -> Self {
        self.cloner = Some(cloner);
        self
    }

    /// The voice cloner, or why there is none: cloning is MiniMax's, so without MiniMax the
    /// reason is MiniMax's "not configured" (client-safe).
    pub fn cloner(&self) -> Result<&Arc<dyn VoiceCloner>, &'static str> {
        self.cloner
            .as_ref()
            .ok_or(Provider::Minimax.not_configured_reason())
    }

    /// The engine for `provider`, if this deployment has one.
    pub fn get(&self, provider: Provider) -> Option<&Arc<dyn Engine>> {
        match provider {
            Provider::Minimax => self.minimax.as_ref(),
            Provider::Local => self.local.as_ref(),
            Provider::Piper => self.piper.as_ref(),
        }
    }

    /// Why one voice cannot be spoken here, if it cannot (client-safe): no engine for its
    /// provider, the engine's own reason, or (for engines with voice files) that voice's file
    /// missing.
    pub fn voice_unavailable_reason(
        &self,
        provider: Provider,
        engine_voice_id: &str,
    ) -> Option<&'static str> {
        match self.get(provider) {
            None => Some(provider.not_configured_reason()),
            Some(engine) => engine.voice_unavailable_reason(engine_voice_id),
        }
    }

    /// Every registered engine.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Engine>> {
        self.minimax
            .iter()
            .chain(self.local.iter())
            .chain(self.piper.iter())
    }
}
