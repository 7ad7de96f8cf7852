//! Cross-format encoder tests that decode the output with independent Rust
//! decoders (symphonia for mp3, claxon for flac) — no ffmpeg needed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::{encode, speechlike, AudioFormat, SUPPORTED_BITRATES, SUPPORTED_SAMPLE_RATES};

/// Decodes an mp3 and returns (sample_rate, decoded sample count).
fn decode_mp3(bytes: Vec<u8>) -> (u32, u64) {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &opts, &MetadataOptions::default())
        .unwrap();
    let mut format = probed.format;
    let track = format.default_track().unwrap();
    let rate = track.codec_params.sample_rate.unwrap();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .unwrap();
    let mut frames = 0u64;
    loop {
        match format.next_packet() {
            Ok(packet) => {
                let buf = decoder.decode(&packet).unwrap();
                frames += buf.frames() as u64;
            }
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("mp3 decode: {e}"),
        }
    }
    (rate, frames)
}

#[test]
fn mp3_every_rate_and_bitrate_decodes_to_the_right_duration() {
    for rate in SUPPORTED_SAMPLE_RATES {
        for bitrate in SUPPORTED_BITRATES {
            let pcm = speechlike(1000, rate, u64::from(rate + bitrate));
            let bytes = encode(&pcm, AudioFormat::Mp3, bitrate).unwrap();
            assert!(bytes.len() > 100, "rate {rate} br {bitrate}");
            let (got_rate, frames) = decode_mp3(bytes);
            assert_eq!(got_rate, rate);
            let ms = frames * 1000 / u64::from(rate);
            assert!(
                ms.abs_diff(pcm.duration_ms()) <= 80,
                "rate {rate} br {bitrate}: decoded {ms} ms"
            );
        }
    }
}

#[test]
fn mp3_size_tracks_the_clamped_bitrate() {
    // 44.1 kHz is MPEG-1, so 256 kbit/s is honoured; 16 kHz is MPEG-2 and is
    // clamped to 160 kbit/s instead of failing.
    let hi = encode(&speechlike(2000, 44100, 1), AudioFormat::Mp3, 256_000).unwrap();
    let lo = encode(&speechlike(2000, 44100, 1), AudioFormat::Mp3, 32_000).unwrap();
    // 32 kbit/s is raised to 64 kbit/s at 44.1 kHz so the gapless Info tag fits.
    assert!(hi.len() > lo.len() * 3, "{} vs {}", hi.len(), lo.len());
    let clamped = encode(&speechlike(2000, 16000, 1), AudioFormat::Mp3, 256_000).unwrap();
    assert!(
        (30_000..50_000).contains(&clamped.len()),
        "{}",
        clamped.len()
    );
}

#[test]
fn flac_round_trips_losslessly_at_every_rate() {
    for rate in SUPPORTED_SAMPLE_RATES {
        let pcm = speechlike(1100, rate, 9);
        let bytes = encode(&pcm, AudioFormat::Flac, 0).unwrap();
        assert_eq!(&bytes[..4], b"fLaC");
        let mut reader = claxon::FlacReader::new(Cursor::new(bytes)).unwrap();
        let info = reader.streaminfo();
        assert_eq!(info.sample_rate, rate);
        assert_eq!(info.channels, 1);
        assert_eq!(info.bits_per_sample, 16);
        assert_eq!(info.samples, Some(pcm.samples.len() as u64));
        let decoded: Vec<i16> = reader
            .samples()
            .map(|s| i16::try_from(s.unwrap()).unwrap())
            .collect();
        assert_eq!(decoded, pcm.samples, "rate {rate}");
    }
}

#[test]
fn pcm_and_wav_lengths_are_exact_at_every_rate() {
    for rate in SUPPORTED_SAMPLE_RATES {
        let pcm = speechlike(777, rate, 5);
        let raw = encode(&pcm, AudioFormat::Pcm, 0).unwrap();
        assert_eq!(raw.len(), pcm.samples.len() * 2);
        let wav = encode(&pcm, AudioFormat::Wav, 0).unwrap();
        assert_eq!(wav.len(), pcm.samples.len() * 2 + 44);
    }
}

#[test]
fn encoding_is_deterministic() {
    let pcm = speechlike(600, 32000, 11);
    for f in AudioFormat::ALL {
        assert_eq!(
            encode(&pcm, f, 128_000).unwrap(),
            encode(&pcm, f, 128_000).unwrap()
        );
    }
}

#[test]
fn mp3_rejects_rates_it_cannot_carry() {
    let pcm = speechlike(100, 96000, 1);
    assert!(encode(&pcm, AudioFormat::Mp3, 128_000).is_err());
}
