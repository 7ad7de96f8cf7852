//! WAV encoding and decoding through `hound`.

use std::io::Cursor;

use hound::{SampleFormat, WavReader, WavSpec, WavWriter};

use crate::{AudioError, Pcm};

/// Writes a canonical 44-byte-header RIFF/WAVE file, 16-bit PCM mono.
pub(crate) fn encode_wav(pcm: &Pcm) -> Result<Vec<u8>, AudioError> {
    let spec = WavSpec {
        channels: 1,
        sample_rate: pcm.sample_rate,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let err = |e: hound::Error| AudioError::Encode {
        format: "wav",
        message: e.to_string(),
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + pcm.samples.len() * 2));
    {
        let mut writer = WavWriter::new(&mut cursor, spec).map_err(err)?;
        // The i16 writer avoids per-sample format dispatch, which matters in
        // unoptimised debug builds.
        let mut w16 = writer.get_i16_writer(u32::try_from(pcm.samples.len()).unwrap_or(u32::MAX));
        for &s in &pcm.samples {
            w16.write_sample(s);
        }
        w16.flush().map_err(err)?;
        writer.finalize().map_err(err)?;
    }
    Ok(cursor.into_inner())
}

/// Decodes a WAV file (8/16/24/32-bit integer or 32-bit float, any channel
/// count) into mono 16-bit PCM by averaging the channels.
pub fn decode_wav(bytes: &[u8]) -> Result<Pcm, AudioError> {
    let reader =
        WavReader::new(Cursor::new(bytes)).map_err(|e| AudioError::Decode(e.to_string()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let bits = u32::from(spec.bits_per_sample);
    // Normalise everything to f32 in [-1, 1] first so mixing is format-agnostic.
    let interleaved: Vec<f32> = match spec.sample_format {
        SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| AudioError::Decode(e.to_string()))?,
        SampleFormat::Int => {
            let scale = 2f32.powi(i32::try_from(bits.saturating_sub(1)).unwrap_or(15));
            reader
                .into_samples::<i32>()
                .map(|r| r.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(|e| AudioError::Decode(e.to_string()))?
        }
    };
    let samples = interleaved
        .chunks(channels)
        .map(|frame| {
            let mean = frame.iter().sum::<f32>() / frame.len() as f32;
            (mean * 32767.0).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    Ok(Pcm {
        samples,
        sample_rate: spec.sample_rate,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{encode, speechlike, AudioFormat, SUPPORTED_SAMPLE_RATES};

    #[test]
    fn wav_has_exact_length_and_round_trips() {
        for rate in SUPPORTED_SAMPLE_RATES {
            let pcm = speechlike(1234, rate, 7);
            let bytes = encode(&pcm, AudioFormat::Wav, 0).unwrap();
            assert_eq!(bytes.len(), 44 + pcm.samples.len() * 2, "rate {rate}");
            assert_eq!(&bytes[0..4], b"RIFF");
            let back = decode_wav(&bytes).unwrap();
            assert_eq!(back, pcm);
            assert_eq!(back.duration_ms(), 1234);
        }
    }

    #[test]
    fn stereo_float_wav_is_mixed_to_mono() {
        let spec = WavSpec {
            channels: 2,
            sample_rate: 16000,
            bits_per_sample: 32,
            sample_format: SampleFormat::Float,
        };
        let mut cursor = Cursor::new(Vec::new());
        {
            let mut w = WavWriter::new(&mut cursor, spec).unwrap();
            for _ in 0..100 {
                w.write_sample(0.5f32).unwrap();
                w.write_sample(-0.5f32).unwrap();
                w.write_sample(0.25f32).unwrap();
                w.write_sample(0.25f32).unwrap();
            }
            w.finalize().unwrap();
        }
        let pcm = decode_wav(&cursor.into_inner()).unwrap();
        assert_eq!(pcm.samples.len(), 200);
        assert_eq!(pcm.sample_rate, 16000);
        assert_eq!(pcm.samples[0], 0);
        assert_eq!(pcm.samples[1], 8192);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(
            decode_wav(b"not a wav"),
            Err(AudioError::Decode(_))
        ));
    }
}
