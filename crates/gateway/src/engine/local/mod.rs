//! The local speech engine: eSpeak NG run as a subprocess on this machine.
//!
//! Text goes to `espeak-ng --stdin --stdout -z` on stdin, split on pause markers
//! (`<#0.5#>`) which become real silence; the 22050 Hz WAV eSpeak writes is trimmed of
//! excessive edge silence, joined, resampled and encoded as the request asks. A bounded
//! pool limits concurrent processes, and a per-request deadline kills slow ones.
//!
//! Billing figures (eSpeak NG 1.51, `-z`, en-us+m3, measured by the module tests):
//! ordinary English runs at about 56–58 ms of audio per character at speed 1.0,
//! 107–111 ms at speed 0.5 and 29–31 ms at speed 2.0, under the gateway's estimate of
//! 100 ms per character ÷ speed. Very short texts overrun that estimate by up to ~0.5 s
//! ("ok": 915 ms at speed 0.5 against 400), and digits, symbols and emoji are read as words, several
//! times over it (`billing_estimate_covers_real_audio` prints the table).

mod engine;
mod params;
mod pauses;
mod process;
mod render;
mod settings;
mod text;
mod trim;
mod voices;
mod wav;

#[cfg(test)]
mod tests;

pub use engine::LocalEngine;
pub(crate) use pauses::{split_pauses, Piece};
pub(crate) use process::speak as run_espeak;
pub use settings::LocalEngineSettings;
pub(crate) use text::plain_text;
pub use voices::{LocalVoiceSeed, LOCAL_VOICES};
