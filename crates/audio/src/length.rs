//! The length of encoded audio, read from the container and frame headers without decoding:
//! for a whole buffer ([`measure`]) or for a stream fed chunk by chunk ([`LengthCounter`]),
//! which counts only what it has been given — the audio that reached a client.
//!
//! Every format the gateway serves: mp3 (frame headers, trimmed by a LAME/Info tag's encoder
//! delay and padding), wav (the `data` chunk), raw pcm (16-bit LE mono at a known rate) and
//! flac (STREAMINFO's total samples for a whole buffer, frame headers for a stream).

mod flac;
mod gather;
mod mp3;
mod wav;

use crate::pcm::ms_for_samples;
use crate::AudioFormat;

/// How much audio a buffer or stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLength {
    /// Samples per channel.
    pub samples: u64,
    /// Samples per second (from the container, else the rate the caller gave).
    pub sample_rate: u32,
}

impl AudioLength {
    /// Duration in milliseconds, rounded to the nearest ms (0 for a zero rate), as
    /// [`Pcm::duration_ms`](crate::Pcm::duration_ms) rounds it.
    pub fn ms(self) -> u64 {
        ms_for_samples(self.samples, self.sample_rate)
    }
}

/// Counts the audio of a stream as its chunks arrive, in any order of chunk boundaries (a
/// boundary may split a frame header). Only whole frames count: a stream cut mid-frame
/// measures what a player could play.
#[derive(Debug)]
pub struct LengthCounter {
    format: Counter,
}

#[derive(Debug)]
enum Counter {
    Mp3(mp3::Mp3Counter),
    Wav(wav::WavCounter),
    Pcm { bytes: u64, sample_rate: u32 },
    Flac(flac::FlacCounter),
}

impl LengthCounter {
    /// A counter for a stream of `format`. `sample_rate` is the rate of raw pcm, and the rate
    /// assumed where a container does not say.
    pub fn new(format: AudioFormat, sample_rate: u32) -> LengthCounter {
        let format = match format {
            AudioFormat::Mp3 => Counter::Mp3(mp3::Mp3Counter::default()),
            AudioFormat::Wav => Counter::Wav(wav::WavCounter::new(sample_rate)),
            AudioFormat::Pcm => Counter::Pcm {
                bytes: 0,
                sample_rate,
            },
            AudioFormat::Flac => Counter::Flac(flac::FlacCounter::new(sample_rate)),
        };
        LengthCounter { format }
    }

    /// Takes the next chunk of the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        match &mut self.format {
            Counter::Mp3(c) => c.feed(chunk),
            Counter::Wav(c) => c.feed(chunk),
            Counter::Pcm { bytes, .. } => *bytes += chunk.len() as u64,
            Counter::Flac(c) => c.feed(chunk),
        }
    }

    /// The audio in the whole frames fed so far.
    pub fn length(&self) -> AudioLength {
        match &self.format {
            Counter::Mp3(c) => c.length(),
            Counter::Wav(c) => c.length(),
            Counter::Pcm { bytes, sample_rate } => AudioLength {
                samples: bytes / 2,
                sample_rate: *sample_rate,
            },
            Counter::Flac(c) => c.length(),
        }
    }
}

/// The length of a whole encoded buffer of `format` (`sample_rate` as for
/// [`LengthCounter::new`]). A flac buffer is taken at its STREAMINFO's word when that gives
/// the total; a streamed flac, whose STREAMINFO says 0, is measured by its frames.
pub fn measure(format: AudioFormat, bytes: &[u8], sample_rate: u32) -> AudioLength {
    let mut counter = LengthCounter::new(format, sample_rate);
    counter.feed(bytes);
    if let Counter::Flac(flac) = &counter.format {
        if let Some(declared) = flac.declared() {
            return declared;
        }
    }
    counter.length()
}

#[cfg(test)]
mod tests;
