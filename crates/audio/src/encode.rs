//! Format dispatch for encoding, plus the trivial raw-PCM "encoder".

use crate::{flac, mp3, wav, AudioError, AudioFormat, Pcm};

/// Encodes `pcm` as `format`.
///
/// `bitrate` (bit/s) only matters for mp3, where it is clamped to what the
/// MPEG version implied by the sample rate allows, so any supported
/// rate/bitrate pair succeeds. The other formats ignore it.
pub fn encode(pcm: &Pcm, format: AudioFormat, bitrate: u32) -> Result<Vec<u8>, AudioError> {
    if pcm.sample_rate == 0 {
        return Err(AudioError::UnsupportedSampleRate {
            what: format.as_str(),
            rate: 0,
        });
    }
    match format {
        AudioFormat::Mp3 => mp3::encode_mp3(pcm, bitrate),
        AudioFormat::Wav => wav::encode_wav(pcm),
        AudioFormat::Pcm => Ok(encode_raw(pcm)),
        AudioFormat::Flac => flac::encode_flac(pcm),
    }
}

/// Raw signed 16-bit little-endian samples, no header.
fn encode_raw(pcm: &Pcm) -> Vec<u8> {
    pcm.samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn raw_pcm_is_little_endian_and_exact_length() {
        let pcm = Pcm {
            samples: vec![1, -2, 0x1234],
            sample_rate: 8000,
        };
        let out = encode(&pcm, AudioFormat::Pcm, 128_000).unwrap();
        assert_eq!(out, vec![1, 0, 0xfe, 0xff, 0x34, 0x12]);
    }

    #[test]
    fn zero_rate_is_rejected() {
        let pcm = Pcm {
            samples: vec![0; 10],
            sample_rate: 0,
        };
        assert!(encode(&pcm, AudioFormat::Wav, 0).is_err());
    }
}
