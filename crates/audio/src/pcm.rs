//! The in-memory PCM buffer type.

/// Mono, signed 16-bit PCM audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pcm {
    /// Samples in playback order.
    pub samples: Vec<i16>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Pcm {
    /// Duration in milliseconds, rounded to the nearest ms (0 for a zero rate).
    pub fn duration_ms(&self) -> u64 {
        ms_for_samples(self.samples.len() as u64, self.sample_rate)
    }

    /// `ms` milliseconds of digital silence at `sample_rate`.
    pub fn silence(ms: u64, sample_rate: u32) -> Pcm {
        Pcm {
            samples: vec![0; samples_for_ms(ms, sample_rate)],
            sample_rate,
        }
    }
}

/// Milliseconds of `samples` at `rate`, rounded to the nearest ms (0 for a zero rate).
pub(crate) fn ms_for_samples(samples: u64, rate: u32) -> u64 {
    if rate == 0 {
        return 0;
    }
    let rate = u128::from(rate);
    let ms = (u128::from(samples) * 1000 + rate / 2) / rate;
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// Sample count closest to `ms` at `rate`; `duration_ms` of the result is `ms`
/// again for every rate >= 1000 Hz because the rounding error stays < 0.5 ms.
pub(crate) fn samples_for_ms(ms: u64, rate: u32) -> usize {
    let n = (u128::from(ms) * u128::from(rate) + 500) / 1000;
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_duration_round_trips_at_every_rate() {
        for rate in crate::SUPPORTED_SAMPLE_RATES {
            for ms in [0, 1, 7, 100, 333, 1001, 12345] {
                let p = Pcm::silence(ms, rate);
                assert_eq!(p.duration_ms(), ms, "rate {rate} ms {ms}");
                assert!(p.samples.iter().all(|&s| s == 0));
            }
        }
        assert_eq!(Pcm::silence(1000, 22050).samples.len(), 22050);
    }
}
