//! `minimax_sim`: an in-process (or standalone, see the `minimax-sim` binary)
//! simulator of MiniMax's T2A v2 HTTP API, following
//! `shared/docs/minimax-api.md`. It produces real, decodable audio, supports
//! SSE streaming, voice cloning, and run-time fault injection through
//! `/_sim/*` control routes so gateway tests can exercise failure paths.

mod app;
mod audio_cache;
mod auth;
mod config;
mod control;
mod faults;
mod files;
mod handle;
mod hosted;
mod recorder;
mod responses;
mod state;
mod stream;
mod t2a;
mod t2a_validate;
mod text;
mod trace;
mod voice_api;
mod voices;

pub use config::SimConfig;
pub use handle::{spawn, SimHandle};
