//! OdeaDev TTS gateway: authenticates API keys, enforces quotas, meters every request in
//! seconds of real audio, and routes synthesis to an engine.
//!
//! Layers: `http` (axum) → `service` (use cases) → ports (`store`, `engine`) → adapters
//! (`store::sqlite`, `engine::minimax`, `engine::local`). `domain` holds pure rules.

pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod runtime;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
