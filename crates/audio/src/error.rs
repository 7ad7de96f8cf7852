//! The single error type of this crate.

use thiserror::Error;

/// Everything that can go wrong while encoding, decoding or resampling audio.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AudioError {
    /// A format name that is not one of `mp3`, `wav`, `pcm`, `flac`.
    #[error("unknown audio format: {0:?}")]
    UnknownFormat(String),
    /// The sample rate cannot be used with this format or operation.
    #[error("unsupported sample rate {rate} for {what}")]
    UnsupportedSampleRate {
        /// Which format or operation rejected it.
        what: &'static str,
        /// The offending rate in Hz.
        rate: u32,
    },
    /// The underlying encoder library failed.
    #[error("{format} encoding failed: {message}")]
    Encode {
        /// Format being produced.
        format: &'static str,
        /// Library error text.
        message: String,
    },
    /// Input bytes could not be decoded.
    #[error("decoding failed: {0}")]
    Decode(String),
    /// The resampler library failed.
    #[error("resampling failed: {0}")]
    Resample(String),
}
