//! A deterministic speech-like test signal: a harmonic "voice" whose pitch
//! glides per syllable, shaped by a syllable-rate envelope with short gaps and
//! a little breath noise. Cheap enough for unoptimised builds because the
//! waveform and envelope come from lookup tables.

use std::f32::consts::PI;

use crate::pcm::samples_for_ms;
use crate::Pcm;

/// Entries in the one-period waveform table.
const WAVE_LEN: usize = 2048;
/// Entries in the half-sine envelope table.
const ENV_LEN: usize = 512;
/// Relative strengths of harmonics 1..=10; a rough vowel-like spectrum.
const HARMONICS: [f32; 10] = [1.0, 0.8, 0.55, 0.7, 0.45, 0.3, 0.22, 0.15, 0.1, 0.07];

/// SplitMix64: tiny, well-known, and stable across platforms and versions,
/// which is what makes the signal reproducible from a seed.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }
}

fn wave_table(rng: &mut SplitMix) -> Vec<f32> {
    // Per-seed jitter of the harmonic weights makes different seeds sound
    // (and hash) different while keeping the same overall character.
    let weights: Vec<f32> = HARMONICS.iter().map(|w| w * rng.range(0.7, 1.3)).collect();
    let norm: f32 = weights.iter().sum();
    (0..WAVE_LEN)
        .map(|i| {
            let t = i as f32 / WAVE_LEN as f32;
            weights
                .iter()
                .enumerate()
                .map(|(h, w)| w * (2.0 * PI * (h as f32 + 1.0) * t).sin())
                .sum::<f32>()
                / norm
        })
        .collect()
}

/// Generates exactly `duration_ms` (rounded to whole samples) of audible,
/// speech-like mono audio. The same arguments always give identical samples.
pub fn speechlike(duration_ms: u64, sample_rate: u32, seed: u64) -> Pcm {
    let total = samples_for_ms(duration_ms, sample_rate);
    let mut samples = Vec::with_capacity(total);
    if sample_rate == 0 {
        return Pcm {
            samples,
            sample_rate,
        };
    }
    let rate = sample_rate as f32;
    let mut rng = SplitMix(seed ^ 0x0DEA_DE70_5EED_0001);
    let wave = wave_table(&mut rng);
    let env: Vec<f32> = (0..ENV_LEN)
        .map(|i| (PI * i as f32 / ENV_LEN as f32).sin())
        .collect();
    let base_f0 = rng.range(110.0, 220.0);
    let mut noise = rng.next_u64() | 1;
    let mut phase = 0.0f32;

    while samples.len() < total {
        // One syllable, then a short gap (longer now and then, like a word break).
        let syl_len = (rate * rng.range(0.12, 0.28)) as usize;
        let gap_len = if rng.range(0.0, 1.0) < 0.2 {
            (rate * rng.range(0.08, 0.16)) as usize
        } else {
            (rate * rng.range(0.02, 0.06)) as usize
        };
        let f_start = base_f0 * rng.range(0.85, 1.2);
        let f_end = f_start * rng.range(0.85, 1.15);
        let amp = 0.55 * 32767.0 * rng.range(0.6, 1.0);
        for i in 0..syl_len.max(1) {
            if samples.len() >= total {
                break;
            }
            let pos = i as f32 / syl_len.max(1) as f32;
            let f0 = f_start + (f_end - f_start) * pos;
            phase += f0 / rate;
            phase -= phase.floor();
            let voiced = wave[(phase * WAVE_LEN as f32) as usize % WAVE_LEN];
            let e = env[((pos * ENV_LEN as f32) as usize).min(ENV_LEN - 1)];
            // xorshift64 breath noise, ~3% of the voiced level.
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let n = (noise >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
            let v = (voiced + 0.03 * n) * e * amp;
            samples.push(v.clamp(-32768.0, 32767.0) as i16);
        }
        for _ in 0..gap_len {
            if samples.len() >= total {
                break;
            }
            samples.push(0);
        }
    }
    Pcm {
        samples,
        sample_rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_exact_length_and_audible() {
        for rate in crate::SUPPORTED_SAMPLE_RATES {
            let a = speechlike(2000, rate, 42);
            let b = speechlike(2000, rate, 42);
            assert_eq!(a, b);
            assert_eq!(a.duration_ms(), 2000);
            let peak = a
                .samples
                .iter()
                .map(|s| s.unsigned_abs())
                .max()
                .unwrap_or(0);
            assert!(peak > 8000, "rate {rate} peak {peak}");
            let silent = a.samples.iter().filter(|&&s| s == 0).count();
            assert!(silent < a.samples.len() / 2, "mostly voiced");
        }
        assert_ne!(speechlike(500, 16000, 1), speechlike(500, 16000, 2));
        assert!(speechlike(0, 16000, 1).samples.is_empty());
    }
}
