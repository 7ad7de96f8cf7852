//! Encoding audio as it is produced, piece by piece, for streamed answers: raw PCM, and MP3
//! on one LAME encoder kept across pieces (no Info tag: the first frame of a stream already
//! sent cannot be rewritten, so a decoder keeps the encoder's delay of a few milliseconds).
//! WAV and FLAC need the whole audio (their headers give its length) and are not offered.

use crate::{mp3, AudioError, AudioFormat};

/// An encoder fed piece by piece.
pub struct StreamEncoder {
    kind: Kind,
}

enum Kind {
    Pcm,
    Mp3(Box<mp3lame_encoder::Encoder>),
}

impl StreamEncoder {
    /// An encoder for `format` at `rate` and `bitrate` (mp3 only), or `None` when the
    /// format cannot be written before the audio is whole.
    pub fn new(
        format: AudioFormat,
        rate: u32,
        bitrate: u32,
    ) -> Option<Result<StreamEncoder, AudioError>> {
        let kind = match format {
            AudioFormat::Pcm => Ok(Kind::Pcm),
            AudioFormat::Mp3 => {
                mp3::lame_encoder(rate, bitrate, false).map(|e| Kind::Mp3(Box::new(e)))
            }
            AudioFormat::Wav | AudioFormat::Flac => return None,
        };
        Some(kind.map(|kind| StreamEncoder { kind }))
    }

    /// The encoded bytes of the next `samples` (possibly none yet, for mp3).
    pub fn encode(&mut self, samples: &[i16]) -> Result<Vec<u8>, AudioError> {
        match &mut self.kind {
            Kind::Pcm => Ok(samples.iter().flat_map(|s| s.to_le_bytes()).collect()),
            Kind::Mp3(encoder) => {
                let mut out = Vec::new();
                mp3::encode_more(encoder, samples, &mut out)?;
                Ok(out)
            }
        }
    }

    /// The last bytes of the stream.
    pub fn finish(&mut self) -> Result<Vec<u8>, AudioError> {
        match &mut self.kind {
            Kind::Pcm => Ok(Vec::new()),
            Kind::Mp3(encoder) => {
                let mut out = Vec::new();
                mp3::finish(encoder, &mut out)?;
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{measure, speechlike};

    #[test]
    fn mp3_pieces_make_one_stream_of_the_whole_length() {
        let pcm = speechlike(2_000, 24_000, 7);
        let mut encoder = StreamEncoder::new(AudioFormat::Mp3, 24_000, 64_000)
            .unwrap()
            .unwrap();
        let mut stream = Vec::new();
        for piece in pcm.samples.chunks(7_000) {
            stream.extend(encoder.encode(piece).unwrap());
        }
        stream.extend(encoder.finish().unwrap());
        let length = measure(AudioFormat::Mp3, &stream, 24_000).ms();
        // Whole frames, the encoder's delay and padding included.
        assert!((2_000..=2_100).contains(&length), "{length} ms");
    }

    #[test]
    fn pcm_pieces_are_the_samples_and_whole_formats_are_not_streamed() {
        let mut encoder = StreamEncoder::new(AudioFormat::Pcm, 16_000, 0)
            .unwrap()
            .unwrap();
        assert_eq!(encoder.encode(&[1, -2]).unwrap(), vec![1, 0, 0xfe, 0xff]);
        assert!(encoder.finish().unwrap().is_empty());
        assert!(StreamEncoder::new(AudioFormat::Wav, 16_000, 0).is_none());
        assert!(StreamEncoder::new(AudioFormat::Flac, 16_000, 0).is_none());
    }
}
