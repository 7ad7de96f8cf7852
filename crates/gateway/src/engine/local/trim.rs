//! Trimming of excessive leading and trailing silence in eSpeak NG output.
//!
//! eSpeak runs with `-z` (no final sentence pause), which leaves at most ~70 ms of edge
//! silence even at speed 0.5 (measured on eSpeak NG 1.51). Anything beyond
//! [`MAX_EDGE_SILENCE_MS`] at either edge is cut so pauses stay the length asked for and
//! the billed audio stays close to what is heard; shorter edges are left alone.

/// Most silence kept at the start and at the end of one spoken segment.
pub(crate) const MAX_EDGE_SILENCE_MS: u64 = 150;

/// Samples with an absolute value at or below this count as silence (about -60 dBFS).
const SILENCE_THRESHOLD: i16 = 32;

/// Cuts leading and trailing silence down to [`MAX_EDGE_SILENCE_MS`] each. All-silent
/// input is cut down to that length as a whole.
pub(crate) fn trim_edge_silence(mut samples: Vec<i16>, sample_rate: u32) -> Vec<i16> {
    let keep =
        usize::try_from(u64::from(sample_rate) * MAX_EDGE_SILENCE_MS / 1000).unwrap_or(usize::MAX);
    let audible = |s: &i16| s.unsigned_abs() > SILENCE_THRESHOLD.unsigned_abs();
    let Some(first) = samples.iter().position(audible) else {
        samples.truncate(keep);
        return samples;
    };
    let last = samples.iter().rposition(audible).unwrap_or(first);
    let end = last
        .saturating_add(1)
        .saturating_add(keep)
        .min(samples.len());
    samples.truncate(end);
    let start = first.saturating_sub(keep);
    samples.drain(..start);
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 1000; // one sample per millisecond keeps the arithmetic readable

    fn signal(lead: usize, audible: usize, trail: usize) -> Vec<i16> {
        let mut samples = vec![0i16; lead];
        samples.extend((0..audible).map(|i| if i % 2 == 0 { 1000 } else { -1000 }));
        samples.extend(vec![5i16; trail]);
        samples
    }

    #[test]
    fn short_edges_are_kept() {
        let samples = signal(70, 500, 20);
        assert_eq!(trim_edge_silence(samples.clone(), RATE), samples);
    }

    #[test]
    fn long_edges_are_cut_to_the_limit() {
        let trimmed = trim_edge_silence(signal(900, 500, 2000), RATE);
        assert_eq!(trimmed, signal(150, 500, 150));
    }

    #[test]
    fn one_long_edge_only() {
        let trimmed = trim_edge_silence(signal(10, 300, 851), RATE);
        assert_eq!(trimmed, signal(10, 300, 150));
    }

    #[test]
    fn silence_and_empty() {
        assert_eq!(trim_edge_silence(vec![0; 21], RATE).len(), 21);
        assert_eq!(trim_edge_silence(vec![0; 5000], RATE).len(), 150);
        assert!(trim_edge_silence(Vec::new(), RATE).is_empty());
    }

    #[test]
    fn negative_peaks_count_including_min() {
        let mut samples = vec![0i16; 400];
        samples[399] = i16::MIN;
        assert_eq!(trim_edge_silence(samples, RATE).len(), 151);
    }
}
