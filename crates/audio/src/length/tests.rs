//! Lengths of audio made by this crate's own encoders, whose sample counts are known: whole,
//! fed in chunks of every size (so boundaries split every header somewhere), and cut short.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    encode, measure, speechlike, AudioFormat, AudioLength, LengthCounter, Pcm, SUPPORTED_BITRATES,
    SUPPORTED_SAMPLE_RATES,
};

fn clip(ms: u64, rate: u32) -> Pcm {
    speechlike(ms, rate, ms + u64::from(rate))
}

fn fed_in_chunks(format: AudioFormat, bytes: &[u8], rate: u32, size: usize) -> AudioLength {
    let mut counter = LengthCounter::new(format, rate);
    for chunk in bytes.chunks(size) {
        counter.feed(chunk);
    }
    counter.length()
}

/// Offsets of every mp3 frame header after the first (the Info frame), by walking lengths.
fn mp3_frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        starts.push(at);
        let h = &bytes[at..];
        let mpeg1 = (h[1] >> 3) & 3 == 3;
        let kbps_v1 = [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ];
        let kbps_v2 = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
        let kbps = if mpeg1 { kbps_v1 } else { kbps_v2 }[usize::from(h[2] >> 4)];
        let base = [44_100, 48_000, 32_000][usize::from((h[2] >> 2) & 3)];
        let rate = match (h[1] >> 3) & 3 {
            3 => base,
            2 => base / 2,
            _ => base / 4,
        };
        let factor = if mpeg1 { 144 } else { 72 };
        at += factor * kbps * 1000 / rate + usize::from((h[2] >> 1) & 1);
    }
    starts
}

#[test]
fn every_format_at_every_rate_measures_exactly_the_samples_encoded() {
    for rate in SUPPORTED_SAMPLE_RATES {
        for ms in [40, 1234] {
            let pcm = clip(ms, rate);
            let expected = AudioLength {
                samples: pcm.samples.len() as u64,
                sample_rate: rate,
            };
            for format in AudioFormat::ALL {
                let bytes = encode(&pcm, format, 128_000).unwrap();
                let measured = measure(format, &bytes, rate);
                assert_eq!(measured, expected, "{format} {rate} Hz {ms} ms");
                assert_eq!(measured.ms(), ms, "{format} {rate} Hz {ms} ms");
            }
        }
    }
}

#[test]
fn mp3_at_every_bitrate_measures_exactly_the_samples_encoded() {
    for rate in SUPPORTED_SAMPLE_RATES {
        for bitrate in SUPPORTED_BITRATES {
            let pcm = clip(2_345, rate);
            let bytes = encode(&pcm, AudioFormat::Mp3, bitrate).unwrap();
            let measured = measure(AudioFormat::Mp3, &bytes, 0);
            assert_eq!(
                measured.samples,
                pcm.samples.len() as u64,
                "{rate} {bitrate}"
            );
            assert_eq!(measured.sample_rate, rate);
        }
    }
}

#[test]
fn a_stream_fed_in_chunks_of_any_size_measures_what_the_whole_buffer_does() {
    for format in AudioFormat::ALL {
        for rate in [8_000, 22_050, 44_100] {
            let pcm = clip(1_500, rate);
            let bytes = encode(&pcm, format, 64_000).unwrap();
            let whole = measure(format, &bytes, rate);
            for size in [1, 2, 3, 5, 7, 16, 100, 417, 1_000, 4_096] {
                let fed = fed_in_chunks(format, &bytes, rate, size);
                assert_eq!(fed, whole, "{format} {rate} Hz in chunks of {size}");
            }
        }
    }
}

#[test]
fn a_boundary_inside_an_mp3_frame_header_changes_nothing() {
    let pcm = clip(1_000, 32_000);
    let bytes = encode(&pcm, AudioFormat::Mp3, 128_000).unwrap();
    let starts = mp3_frame_starts(&bytes);
    assert!(starts.len() > 10);
    for &start in &starts[..4] {
        for split in 1..4 {
            let mut counter = LengthCounter::new(AudioFormat::Mp3, 32_000);
            counter.feed(&bytes[..start + split]);
            counter.feed(&bytes[start + split..]);
            assert_eq!(counter.length().samples, pcm.samples.len() as u64);
        }
    }
}

#[test]
fn a_cut_mp3_stream_counts_its_whole_frames_only() {
    let pcm = clip(1_000, 32_000);
    let bytes = encode(&pcm, AudioFormat::Mp3, 128_000).unwrap();
    let starts = mp3_frame_starts(&bytes);
    // The Info frame, then frames of 1152 samples; the tag's encoder delay comes off the
    // first ones, its padding off the last.
    let delay = 576;
    let mut counter = LengthCounter::new(AudioFormat::Mp3, 32_000);
    counter.feed(&bytes[..starts[5]]);
    assert_eq!(counter.length().samples, 4 * 1152 - delay);
    counter.feed(&bytes[starts[5]..starts[6] - 1]);
    assert_eq!(
        counter.length().samples,
        4 * 1152 - delay,
        "a partial frame"
    );
    counter.feed(&bytes[starts[6] - 1..starts[6]]);
    assert_eq!(counter.length().samples, 5 * 1152 - delay);
    let audio_frames = starts.len() as u64 - 1;
    counter.feed(&bytes[starts[6]..bytes.len() - 1]);
    assert_eq!(counter.length().samples, (audio_frames - 1) * 1152 - delay);
    counter.feed(&bytes[bytes.len() - 1..]);
    assert_eq!(counter.length().samples, pcm.samples.len() as u64);
}

#[test]
fn mp3_without_an_info_frame_counts_every_frame() {
    let pcm = clip(1_000, 24_000);
    let bytes = encode(&pcm, AudioFormat::Mp3, 64_000).unwrap();
    let starts = mp3_frame_starts(&bytes);
    let measured = measure(AudioFormat::Mp3, &bytes[starts[1]..], 0);
    assert_eq!(measured.samples, (starts.len() as u64 - 1) * 576);
    assert_eq!(measured.sample_rate, 24_000);
}

#[test]
fn mp3_behind_an_id3_tag_or_stray_bytes_measures_the_same() {
    let pcm = clip(700, 44_100);
    let bytes = encode(&pcm, AudioFormat::Mp3, 128_000).unwrap();
    // ID3v2.4, no flags, 300 bytes of tag body (syncsafe size), which holds 0xFF bytes.
    let mut tagged = b"ID3\x04\x00\x00\x00\x00\x02\x2c".to_vec();
    tagged.extend(std::iter::repeat_n(0xff, 300));
    tagged.extend_from_slice(&bytes);
    let mut stray = vec![0u8, 0x12, 0xff, 0x00];
    stray.extend_from_slice(&bytes);
    for bytes in [tagged, stray] {
        assert_eq!(
            fed_in_chunks(AudioFormat::Mp3, &bytes, 0, 3).samples,
            pcm.samples.len() as u64
        );
    }
}

/// The encoded flac with STREAMINFO's total set to 0, as a streaming encoder writes it.
fn streamed_flac(bytes: &[u8]) -> Vec<u8> {
    let mut streamed = bytes.to_vec();
    // "fLaC", the block header, then the total's 36 bits from byte 13 of STREAMINFO.
    streamed[8 + 13] &= 0xf0;
    streamed[8 + 14..8 + 18].fill(0);
    streamed
}

#[test]
fn a_streamed_flac_without_a_total_is_measured_by_its_frames() {
    for rate in SUPPORTED_SAMPLE_RATES {
        let pcm = clip(3_210, rate);
        let streamed = streamed_flac(&encode(&pcm, AudioFormat::Flac, 0).unwrap());
        let expected = AudioLength {
            samples: pcm.samples.len() as u64,
            sample_rate: rate,
        };
        assert_eq!(measure(AudioFormat::Flac, &streamed, 0), expected);
        assert_eq!(fed_in_chunks(AudioFormat::Flac, &streamed, 0, 13), expected);
    }
}

#[test]
fn a_streamed_flac_of_more_frames_than_one_byte_numbers_is_measured_whole() {
    // 140 blocks of 4096: frame numbers of one, then two bytes.
    let pcm = clip(72_000, 8_000);
    let streamed = streamed_flac(&encode(&pcm, AudioFormat::Flac, 0).unwrap());
    let measured = fed_in_chunks(AudioFormat::Flac, &streamed, 0, 4_096);
    assert_eq!(measured.samples, pcm.samples.len() as u64);
}

#[test]
fn a_cut_flac_stream_counts_its_whole_frames_only() {
    let pcm = clip(2_000, 16_000);
    let bytes = encode(&pcm, AudioFormat::Flac, 0).unwrap();
    let whole = pcm.samples.len() as u64;
    let mut previous = 0;
    for end in (0..bytes.len()).step_by(97) {
        let mut counter = LengthCounter::new(AudioFormat::Flac, 16_000);
        counter.feed(&bytes[..end]);
        let samples = counter.length().samples;
        // flacenc's default block size.
        assert_eq!(samples % 4096, 0, "whole blocks only at byte {end}");
        assert!(
            samples >= previous && samples < whole,
            "{samples} at byte {end}"
        );
        previous = samples;
    }
    assert!(previous >= whole - 2 * 4096, "{previous} of {whole}");
}

#[test]
fn wav_counts_the_data_that_arrived_within_what_its_header_declares() {
    let pcm = clip(500, 16_000);
    let bytes = encode(&pcm, AudioFormat::Wav, 0).unwrap();
    let samples = pcm.samples.len() as u64;
    let cut = measure(AudioFormat::Wav, &bytes[..44 + 1_001], 0);
    assert_eq!(cut.samples, 500, "an odd byte is no sample");
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(b"LIST\x04\x00\x00\x00abcd");
    assert_eq!(measure(AudioFormat::Wav, &trailing, 0).samples, samples);
    // A streamed WAV, sizes unknown when its header was written.
    let mut streamed = bytes.clone();
    streamed[4..8].fill(0xff);
    streamed[40..44].fill(0xff);
    streamed.extend_from_slice(&[0; 200]);
    assert_eq!(
        measure(AudioFormat::Wav, &streamed, 0).samples,
        samples + 100
    );
    // A chunk before `data`.
    let mut listed = bytes[..36].to_vec();
    listed.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00");
    listed.extend_from_slice(&bytes[36..]);
    let measured = fed_in_chunks(AudioFormat::Wav, &listed, 0, 5);
    assert_eq!(
        measured,
        AudioLength {
            samples,
            sample_rate: 16_000
        }
    );
}

#[test]
fn raw_pcm_is_two_bytes_a_sample_at_the_given_rate() {
    let measured = fed_in_chunks(AudioFormat::Pcm, &[0; 48_001], 24_000, 7);
    assert_eq!(
        measured,
        AudioLength {
            samples: 24_000,
            sample_rate: 24_000
        }
    );
    assert_eq!(measured.ms(), 1_000);
}

#[test]
fn bytes_that_are_not_audio_measure_nothing() {
    let junk: Vec<u8> = (0..5_000u32).map(|i| (i * 7 + i / 3) as u8).collect();
    for format in [AudioFormat::Mp3, AudioFormat::Wav, AudioFormat::Flac] {
        assert_eq!(measure(format, &junk, 32_000).samples, 0, "{format}");
        assert_eq!(measure(format, b"", 32_000).samples, 0, "{format}");
    }
}
