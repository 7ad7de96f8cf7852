//! The length billed and reported is measured from the audio itself — the whole synthesis, or
//! what a stream delivered to its client — never taken on the engine's word. The engine's
//! figure is only checked: beyond [`tolerance_ms`] it is logged (never the text) and counted
//! in `odeadev_engine_length_disagreements_total{engine}`.

use odeadev_audio::{AudioLength, LengthCounter};

use super::Job;
use crate::engine::Synthesis;

/// The engine's length may be off by this much before it disagrees: 100 ms (an mp3 frame
/// or two and the engine's own rounding), or 5 % of the measured length when that is more.
pub(super) fn tolerance_ms(measured_ms: u64) -> u64 {
    (measured_ms / 20).max(100)
}

/// The measured length of a whole synthesis, in ms, checked against the engine's.
pub(super) fn measured_ms(job: &Job, done: &Synthesis) -> u64 {
    let length = odeadev_audio::measure(done.format, &done.audio, done.sample_rate);
    checked_ms(job, done.audio_ms, length)
}

/// Counts a stream's audio as it goes to the client.
pub(super) fn stream_counter(job: &Job) -> LengthCounter {
    LengthCounter::new(job.request.format, job.request.sample_rate)
}

/// `measured` in ms, once compared with what the engine said (`engine_ms`).
pub(super) fn checked_ms(job: &Job, engine_ms: u64, measured: AudioLength) -> u64 {
    let measured_ms = measured.ms();
    if engine_ms.abs_diff(measured_ms) > tolerance_ms(measured_ms) {
        let engine = job.voice.provider.as_str();
        tracing::warn!(
            usage_id = %job.usage.id,
            request_id = %job.usage.request_id,
            engine,
            format = %job.request.format,
            engine_ms,
            measured_ms,
            "the engine's audio length disagrees with its audio; billing the measured length"
        );
        crate::metrics::engine_length_disagreement(engine);
    }
    measured_ms
}

#[cfg(test)]
mod tests {
    use super::tolerance_ms;

    #[test]
    fn the_tolerance_is_100_ms_or_5_percent_whichever_is_more() {
        assert_eq!(tolerance_ms(0), 100);
        assert_eq!(tolerance_ms(2_000), 100);
        assert_eq!(tolerance_ms(2_020), 101);
        assert_eq!(tolerance_ms(60_000), 3_000);
    }
}
