//! Output formats and the parameter lists MiniMax accepts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::AudioError;

/// Sample rates (Hz) accepted by MiniMax's `audio_setting.sample_rate`.
pub const SUPPORTED_SAMPLE_RATES: [u32; 6] = [8000, 16000, 22050, 24000, 32000, 44100];

/// Bitrates (bit/s) accepted by MiniMax's `audio_setting.bitrate` (mp3 only).
pub const SUPPORTED_BITRATES: [u32; 4] = [32000, 64000, 128000, 256000];

/// An encoded audio container/codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    /// MPEG-1/2/2.5 Layer III, mono, CBR (LAME).
    Mp3,
    /// RIFF/WAVE, 16-bit PCM, mono.
    Wav,
    /// Headerless signed 16-bit little-endian mono samples.
    Pcm,
    /// FLAC, 16-bit mono.
    Flac,
}

impl AudioFormat {
    /// All formats, in a stable order (handy for tests and listings).
    pub const ALL: [AudioFormat; 4] = [
        AudioFormat::Mp3,
        AudioFormat::Wav,
        AudioFormat::Pcm,
        AudioFormat::Flac,
    ];

    /// Lowercase wire name (`"mp3"`, `"wav"`, `"pcm"`, `"flac"`).
    pub fn as_str(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Wav => "wav",
            AudioFormat::Pcm => "pcm",
            AudioFormat::Flac => "flac",
        }
    }

    /// MIME type to serve the encoded bytes with.
    pub fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Pcm => "audio/pcm",
            AudioFormat::Flac => "audio/flac",
        }
    }
}

impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AudioFormat {
    type Err = AudioError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mp3" => Ok(AudioFormat::Mp3),
            "wav" => Ok(AudioFormat::Wav),
            "pcm" => Ok(AudioFormat::Pcm),
            "flac" => Ok(AudioFormat::Flac),
            other => Err(AudioError::UnknownFormat(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn names_round_trip_through_fromstr_and_serde() {
        for f in AudioFormat::ALL {
            assert_eq!(f.as_str().parse::<AudioFormat>().unwrap(), f);
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
            assert_eq!(serde_json::from_str::<AudioFormat>(&json).unwrap(), f);
        }
        let err = "MP3".parse::<AudioFormat>().unwrap_err();
        assert!(err.to_string().contains("MP3"));
        assert_eq!(AudioFormat::Mp3.content_type(), "audio/mpeg");
        assert_eq!(AudioFormat::Wav.content_type(), "audio/wav");
        assert_eq!(AudioFormat::Pcm.content_type(), "audio/pcm");
        assert_eq!(AudioFormat::Flac.content_type(), "audio/flac");
    }
}
