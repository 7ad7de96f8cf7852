//! The Piper engine: neural voices (`*.onnx` + `*.onnx.json`) run with ONNX Runtime on the
//! CPU, phonemized by the `espeak-ng` program.
//!
//! Voices are found under `ODEADEV_MODELS_DIR` (`make models` puts `en_US-joe-medium`
//! there) and loaded once, `ODEADEV_LOCAL_MAX_CONCURRENT` single-threaded sessions each;
//! inference runs on blocking threads, never on the async workers. A voice whose files
//! are missing or broken is left out with a logged reason; the engine then reports it
//! unavailable instead of failing to start.

mod engine;
mod inference;
mod job;
mod phonemes;
mod seeds;
mod sentences;
mod voices;

pub use engine::{PiperEngine, PiperSettings};
pub use seeds::{seed_for, PiperVoiceSeed, NATURAL_DEFAULT_VOICE};
