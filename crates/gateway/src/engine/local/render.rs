//! Turning eSpeak's per-segment WAV output and the pauses into the encoded response.
//!
//! CPU-bound and synchronous: the engine calls [`render`] through
//! `tokio::task::spawn_blocking`.

use odeadev_audio::{decode_wav, encode, resample, AudioError, AudioFormat, Pcm};

use super::trim::trim_edge_silence;
use super::wav::repair_streamed_wav;
use crate::engine::EngineError;

/// eSpeak NG's output rate; used for a request made only of pauses.
const ESPEAK_SAMPLE_RATE: u32 = 22_050;

/// One rendered piece of the request, in order.
#[derive(Debug)]
pub(crate) enum Part {
    /// eSpeak's raw `--stdout` bytes for one spoken segment.
    Speech(Vec<u8>),
    /// Silence of this many milliseconds.
    Pause(u32),
}

/// What the client gets.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// Encoded audio.
    pub(crate) audio: Vec<u8>,
    /// Length of the final PCM in milliseconds.
    pub(crate) audio_ms: u64,
}

/// Decodes, trims and joins `parts`, then resamples to `sample_rate` and encodes as
/// `format` at `bitrate`.
pub(crate) fn render(
    parts: Vec<Part>,
    format: AudioFormat,
    sample_rate: u32,
    bitrate: u32,
) -> Result<Rendered, EngineError> {
    let joined = join(parts)?;
    let output = resample(&joined, sample_rate).map_err(audio_error("resampling"))?;
    let audio = encode(&output, format, bitrate).map_err(audio_error("encoding"))?;
    Ok(Rendered {
        audio,
        audio_ms: output.duration_ms(),
    })
}

/// Joins the parts into one PCM at eSpeak's rate.
fn join(parts: Vec<Part>) -> Result<Pcm, EngineError> {
    let mut joined = Pcm {
        samples: Vec::new(),
        sample_rate: ESPEAK_SAMPLE_RATE,
    };
    for part in parts {
        match part {
            Part::Speech(bytes) => {
                let wav = repair_streamed_wav(bytes).map_err(EngineError::BadResponse)?;
                let mut segment =
                    decode_wav(&wav).map_err(audio_error("decoding espeak output"))?;
                if segment.sample_rate != joined.sample_rate {
                    segment = resample(&segment, joined.sample_rate)
                        .map_err(audio_error("resampling"))?;
                }
                let samples = trim_edge_silence(segment.samples, joined.sample_rate);
                joined.samples.extend_from_slice(&samples);
            }
            Part::Pause(ms) => {
                let silence = Pcm::silence(u64::from(ms), joined.sample_rate);
                joined.samples.extend_from_slice(&silence.samples);
            }
        }
    }
    Ok(joined)
}

fn audio_error(stage: &'static str) -> impl Fn(AudioError) -> EngineError {
    move |error| EngineError::BadResponse(format!("{stage}: {error}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// What eSpeak writes to a pipe: a header with placeholder sizes, then samples.
    fn espeak_like_wav(samples: &[i16]) -> Vec<u8> {
        let pcm = Pcm {
            samples: samples.to_vec(),
            sample_rate: ESPEAK_SAMPLE_RATE,
        };
        let mut wav = encode(&pcm, AudioFormat::Wav, 0).unwrap();
        wav[4..8].copy_from_slice(&0x7fff_f024u32.to_le_bytes());
        wav[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        wav
    }

    #[test]
    fn speech_and_pauses_are_joined_in_order() {
        let tone: Vec<i16> = (0..2205)
            .map(|i| if i % 2 == 0 { 9000 } else { -9000 })
            .collect();
        let parts = vec![
            Part::Pause(100),
            Part::Speech(espeak_like_wav(&tone)),
            Part::Pause(500),
            Part::Speech(espeak_like_wav(&tone)),
        ];
        let joined = join(parts).unwrap();
        assert_eq!(joined.sample_rate, ESPEAK_SAMPLE_RATE);
        assert_eq!(joined.duration_ms(), 100 + 100 + 500 + 100);
        assert!(joined.samples[..2205].iter().all(|&s| s == 0));
        assert_eq!(joined.samples[2205], 9000);
    }

    #[test]
    fn render_encodes_at_the_requested_rate() {
        let tone: Vec<i16> = (0..22050)
            .map(|i| ((i % 50) * 400 - 10000) as i16)
            .collect();
        let parts = vec![Part::Speech(espeak_like_wav(&tone)), Part::Pause(250)];
        let rendered = render(parts, AudioFormat::Pcm, 16_000, 128_000).unwrap();
        assert_eq!(rendered.audio_ms, 1250);
        // 1 s + 250 ms at 16 kHz, give or take the resampler's rounding up.
        assert!(
            rendered.audio.len().abs_diff(2 * 20_000) <= 4,
            "{}",
            rendered.audio.len()
        );
    }

    #[test]
    fn pause_only_request_is_silence() {
        let rendered = render(vec![Part::Pause(1500)], AudioFormat::Wav, 8000, 0).unwrap();
        assert_eq!(rendered.audio_ms, 1500);
        assert_eq!(rendered.audio.len(), 44 + 2 * 12_000);
    }

    #[test]
    fn garbage_output_is_a_bad_response() {
        let error = render(
            vec![Part::Speech(b"oops".to_vec())],
            AudioFormat::Wav,
            8000,
            0,
        )
        .unwrap_err();
        assert!(matches!(error, EngineError::BadResponse(_)), "{error:?}");
    }
}
