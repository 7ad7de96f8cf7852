//! Mapping of the API's voice controls onto eSpeak NG's command-line parameters.
//!
//! - speed 0.5..=2.0 scales eSpeak's default 175 words/minute linearly (`-s`, kept in
//!   eSpeak's 80..=450);
//! - pitch -12..=12 semitones maps onto eSpeak's 0..=99 pitch scale around its default 50
//!   (`-p`, about 4 steps a semitone);
//! - volume (0, 10] scales eSpeak's default amplitude 100 (`-a`, kept in eSpeak's 0..=200).
//!
//! Values outside the API ranges (which the gateway has already rejected) and non-finite
//! values are clamped or treated as the default rather than passed through.

/// eSpeak's default and the API's speed 1.0, in words per minute.
const DEFAULT_WPM: f32 = 175.0;
/// eSpeak's slowest rate.
const MIN_WPM: f32 = 80.0;
/// eSpeak's fastest rate.
const MAX_WPM: f32 = 450.0;
/// eSpeak's default pitch, the API's 0 semitones.
const DEFAULT_PITCH: f32 = 50.0;
/// eSpeak pitch steps for the API's 12 semitones.
const PITCH_STEPS_PER_OCTAVE: f32 = 50.0;
/// eSpeak's default amplitude, the API's volume 1.0.
const DEFAULT_AMPLITUDE: f32 = 100.0;
/// eSpeak's loudest amplitude.
const MAX_AMPLITUDE: f32 = 200.0;

/// eSpeak's rendering of one request's controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EspeakParams {
    /// `-s`: words per minute.
    pub(crate) words_per_minute: u32,
    /// `-p`: 0..=99.
    pub(crate) pitch: u32,
    /// `-a`: 0..=200.
    pub(crate) amplitude: u32,
}

impl EspeakParams {
    /// Maps API speed, pitch (semitones) and volume onto eSpeak's scales.
    pub(crate) fn from_controls(speed: f32, pitch_semitones: i32, volume: f32) -> Self {
        let speed = if speed.is_finite() { speed } else { 1.0 };
        let words_per_minute = (DEFAULT_WPM * speed).round().clamp(MIN_WPM, MAX_WPM) as u32;

        let semitones = pitch_semitones.clamp(-12, 12) as f32;
        let pitch = (DEFAULT_PITCH + semitones * PITCH_STEPS_PER_OCTAVE / 12.0)
            .round()
            .clamp(0.0, 99.0) as u32;

        let volume = if volume.is_finite() { volume } else { 1.0 };
        let amplitude = (DEFAULT_AMPLITUDE * volume)
            .round()
            .clamp(0.0, MAX_AMPLITUDE) as u32;

        EspeakParams {
            words_per_minute,
            pitch,
            amplitude,
        }
    }

    /// The command-line arguments for these parameters.
    pub(crate) fn args(&self) -> [String; 6] {
        [
            "-s".to_owned(),
            self.words_per_minute.to_string(),
            "-p".to_owned(),
            self.pitch.to_string(),
            "-a".to_owned(),
            self.amplitude.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wpm(speed: f32) -> u32 {
        EspeakParams::from_controls(speed, 0, 1.0).words_per_minute
    }

    fn pitch(semitones: i32) -> u32 {
        EspeakParams::from_controls(1.0, semitones, 1.0).pitch
    }

    fn amplitude(volume: f32) -> u32 {
        EspeakParams::from_controls(1.0, 0, volume).amplitude
    }

    #[test]
    fn defaults_are_espeaks_defaults() {
        assert_eq!(
            EspeakParams::from_controls(1.0, 0, 1.0),
            EspeakParams {
                words_per_minute: 175,
                pitch: 50,
                amplitude: 100
            }
        );
    }

    #[test]
    fn speed_scales_linearly_and_clamps() {
        assert_eq!(wpm(0.5), 88);
        assert_eq!(wpm(2.0), 350);
        assert_eq!(wpm(1.5), 263);
        assert_eq!(wpm(0.1), 80);
        assert_eq!(wpm(5.0), 450);
        assert_eq!(wpm(f32::NAN), 175);
        assert_eq!(wpm(f32::INFINITY), 175);
    }

    #[test]
    fn pitch_spans_espeaks_scale() {
        assert_eq!(pitch(-12), 0);
        assert_eq!(pitch(-6), 25);
        assert_eq!(pitch(1), 54);
        assert_eq!(pitch(12), 99);
        assert_eq!(pitch(-40), 0);
        assert_eq!(pitch(40), 99);
        assert!((-12..12).all(|s| pitch(s) < pitch(s + 1)), "monotonic");
    }

    #[test]
    fn volume_scales_and_clamps() {
        assert_eq!(amplitude(0.5), 50);
        assert_eq!(amplitude(1.5), 150);
        assert_eq!(amplitude(2.0), 200);
        assert_eq!(amplitude(10.0), 200);
        assert_eq!(amplitude(0.001), 0);
        assert_eq!(amplitude(-1.0), 0);
        assert_eq!(amplitude(f32::NAN), 100);
    }

    #[test]
    fn args_are_flag_value_pairs() {
        let args = EspeakParams::from_controls(2.0, 12, 0.5).args();
        assert_eq!(args, ["-s", "350", "-p", "99", "-a", "50"]);
    }
}
