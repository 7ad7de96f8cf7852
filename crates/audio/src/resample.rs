//! Sample-rate conversion with rubato's FFT resampler.

use rubato::audioadapter_buffers::owned::InterleavedOwned;
use rubato::{Fft, FixedSync, Resampler};

use crate::{AudioError, Pcm};

/// FFT chunk size; a power of two near 1k keeps latency and setup cost low.
const CHUNK: usize = 1024;

fn rs_err(e: impl std::fmt::Display) -> AudioError {
    AudioError::Resample(e.to_string())
}

/// Converts `pcm` to `to_rate` Hz. Equal rates return a clone untouched.
///
/// The output has `ceil(len * to_rate / from_rate)` samples with the
/// resampler's startup delay already trimmed, so durations are preserved.
pub fn resample(pcm: &Pcm, to_rate: u32) -> Result<Pcm, AudioError> {
    if pcm.sample_rate == to_rate {
        return Ok(pcm.clone());
    }
    if pcm.sample_rate == 0 || to_rate == 0 {
        return Err(AudioError::UnsupportedSampleRate {
            what: "resample",
            rate: if to_rate == 0 {
                to_rate
            } else {
                pcm.sample_rate
            },
        });
    }
    if pcm.samples.is_empty() {
        return Ok(Pcm {
            samples: Vec::new(),
            sample_rate: to_rate,
        });
    }
    let from = usize::try_from(pcm.sample_rate).map_err(rs_err)?;
    let to = usize::try_from(to_rate).map_err(rs_err)?;
    let mut resampler = Fft::<f32>::new(from, to, CHUNK, 1, FixedSync::Input).map_err(rs_err)?;
    let frames = pcm.samples.len();
    let data: Vec<f32> = pcm
        .samples
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    let input = InterleavedOwned::new_from(data, 1, frames).map_err(rs_err)?;
    let output = resampler
        .process_all(&input, frames, None)
        .map_err(rs_err)?;
    let samples = output
        .take_data()
        .into_iter()
        .map(|v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    Ok(Pcm {
        samples,
        sample_rate: to_rate,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::speechlike;

    #[test]
    fn equal_rate_is_identity() {
        let pcm = speechlike(300, 16000, 1);
        assert_eq!(resample(&pcm, 16000).unwrap(), pcm);
    }

    #[test]
    fn duration_and_energy_are_preserved() {
        let pcm = speechlike(1500, 44100, 3);
        for to in [8000, 16000, 22050, 24000, 32000] {
            let out = resample(&pcm, to).unwrap();
            assert_eq!(out.sample_rate, to);
            let diff = out.duration_ms().abs_diff(pcm.duration_ms());
            assert!(diff <= 1, "to {to}: {} ms", out.duration_ms());
            let rms = |p: &Pcm| {
                (p.samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>()
                    / p.samples.len() as f64)
                    .sqrt()
            };
            // Downsampling to 8 kHz drops upper harmonics, so allow some loss.
            assert!(rms(&out) > rms(&pcm) * 0.5, "to {to}");
        }
        let up = resample(&speechlike(500, 8000, 3), 44100).unwrap();
        assert_eq!(up.duration_ms(), 500);
    }
}
