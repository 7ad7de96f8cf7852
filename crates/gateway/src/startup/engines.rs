//! The engines a deployment has, built from the settings, and the registration of the
//! Piper voices found on disk.

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::audit::Actor;
use crate::engine::local::{LocalEngine, LocalEngineSettings};
use crate::engine::minimax::MinimaxEngine;
use crate::engine::piper::{self, PiperEngine, PiperSettings};
use crate::engine::{EngineRegistry, Provider};
use crate::error::ApiError;
use crate::service::admin::{NewVoiceRequest, VoiceAdmin};
use crate::store::Store;

/// The engines this deployment has, and the Piper voices found on disk (to register).
pub struct Engines {
    /// Every engine, by provider.
    pub registry: EngineRegistry,
    /// The engine ids of the Piper voices loaded.
    pub piper_voices: Vec<String>,
}

/// Builds the engines this deployment has.
pub async fn engines(settings: &Settings) -> anyhow::Result<Engines> {
    let local = LocalEngine::new(LocalEngineSettings {
        program: settings.local.program.clone(),
        max_concurrent: settings.local.max_concurrent,
        timeout: settings.local.timeout,
    })
    .await;
    if let Some(reason) = crate::engine::Engine::unavailable_reason(&local) {
        tracing::warn!(reason, "local engine unavailable");
    }
    let piper = PiperEngine::new(PiperSettings {
        models_dir: settings.local.models_dir.clone(),
        onnxruntime: settings.local.onnxruntime.clone(),
        espeak: settings.local.program.clone(),
        max_concurrent: settings.local.max_concurrent,
        queue_timeout: settings.local.queue_timeout,
        timeout: settings.local.timeout,
    })
    .await;
    if let Some(reason) = crate::engine::Engine::unavailable_reason(&piper) {
        tracing::warn!(reason, "piper engine unavailable");
    }
    let piper_voices = piper.voice_ids();
    let mut registry = EngineRegistry::default()
        .with(Arc::new(local))
        .with(Arc::new(piper));
    if let Some(minimax) = &settings.minimax {
        let engine = Arc::new(MinimaxEngine::new(minimax.clone())?);
        registry = registry.with(engine.clone()).with_cloner(engine);
    } else {
        tracing::info!("MINIMAX_API_KEY not set: MiniMax voices are unavailable");
    }
    Ok(Engines {
        registry,
        piper_voices,
    })
}

/// Registers each Piper voice found on disk that has no voice row yet (audited as the
/// operator's, like `create-admin`). Another node registering it first is no error.
pub(super) async fn register_piper_voices(
    voices: &VoiceAdmin,
    store: &dyn Store,
    found: &[String],
) -> anyhow::Result<()> {
    for engine_voice_id in found {
        let Some(seed) = piper::seed_for(engine_voice_id) else {
            tracing::info!(voice = %engine_voice_id, "piper voice not registered: its language is not in its file name; register it with POST /admin/voices");
            continue;
        };
        if store.find_voice(&seed.friendly_name).await?.is_some() {
            continue;
        }
        let request = NewVoiceRequest {
            friendly_name: seed.friendly_name.clone(),
            engine_voice_id: engine_voice_id.clone(),
            language: seed.language,
            gender: seed.gender,
            description: Some(seed.description),
            is_cloned: false,
            provider: Some(Provider::Piper),
        };
        match voices.register_voice(&Actor::command_line(), request).await {
            Ok(_) => tracing::info!(voice = %seed.friendly_name, "piper voice registered"),
            Err(ApiError::Conflict(_)) => {}
            Err(e) => anyhow::bail!("registering piper voice {}: {e}", seed.friendly_name),
        }
    }
    Ok(())
}
