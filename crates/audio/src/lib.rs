//! Audio primitives for OdeaDev TTS: mono 16-bit PCM buffers, encoders for the
//! output formats MiniMax offers (mp3, wav, raw pcm, flac), the length of encoded
//! audio read from its headers (whole, or counted as a stream arrives), a resampler,
//! a WAV decoder and a deterministic speech-like test signal.
//!
//! Everything here is synchronous and CPU-bound; async callers should run
//! `encode`/`resample` on a blocking thread for long clips.

mod encode;
mod error;
mod flac;
mod format;
mod length;
mod mp3;
mod pcm;
mod resample;
mod stream;
mod synth;
mod wav;

pub use encode::encode;
pub use error::AudioError;
pub use format::{AudioFormat, SUPPORTED_BITRATES, SUPPORTED_SAMPLE_RATES};
pub use length::{measure, AudioLength, LengthCounter};
pub use pcm::Pcm;
pub use resample::resample;
pub use stream::StreamEncoder;
pub use synth::speechlike;
pub use wav::decode_wav;

#[cfg(test)]
mod codec_tests;
