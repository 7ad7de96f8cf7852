//! Upper-bound estimate of the audio a request will produce, reserved before the engine call.
//!
//! Real speech runs at roughly 55–80 ms per letter; we reserve 100 ms per character at
//! speed 1.0 (scaled by 1/speed), plus every explicit pause, plus a fixed allowance for the
//! lead-in and tail engines add to short texts. Digits and symbols are read out as whole
//! words ("2024" takes 1.4 s), so each counts as [`SPELLED_OUT_WEIGHT`] characters.
//! Settlement charges the real length, never more than this estimate.

use super::text::SpeechText;

/// Reserved milliseconds per character at speed 1.0.
pub const MS_PER_CHAR: u64 = 100;
/// Characters' worth reserved for one digit, symbol or emoji.
pub const SPELLED_OUT_WEIGHT: u64 = 8;
/// Fixed allowance for lead-in/tail silence on every request.
pub const FIXED_ALLOWANCE_MS: u64 = 1000;

/// Milliseconds to reserve for `text` spoken at `speed`.
pub fn estimate_ms(text: &SpeechText, speed: f32) -> i64 {
    let speed = f64::from(speed.clamp(0.25, 4.0));
    let weight = text.spoken_weight(SPELLED_OUT_WEIGHT);
    let speech = (weight as f64 * MS_PER_CHAR as f64 / speed).ceil() as u64;
    (speech + text.pause_ms() + FIXED_ALLOWANCE_MS) as i64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scales_with_length_speed_and_pauses() {
        let t = SpeechText::parse(&"a".repeat(100)).unwrap();
        assert_eq!(estimate_ms(&t, 1.0), 11_000);
        assert_eq!(estimate_ms(&t, 0.5), 21_000);
        assert_eq!(estimate_ms(&t, 2.0), 6_000);
        let p = SpeechText::parse("abc<#2#>def").unwrap();
        assert_eq!(estimate_ms(&p, 1.0), 600 + 2000 + 1000);
        let d = SpeechText::parse("in 2024!").unwrap();
        assert_eq!(estimate_ms(&d, 1.0), (4 + 4 * 8) * 100 + 1000);
    }
}
