//! Minimal header readers to check encoded durations without extra dependencies: WAV via
//! `odeadev_audio::decode_wav`, raw PCM by length, FLAC from STREAMINFO, MP3 by counting
//! frames and subtracting the LAME tag's encoder delay and padding.

use odeadev_audio::{decode_wav, AudioFormat};

/// Sample rate and sample count of `audio` in `format` (`raw_rate` for headerless PCM).
pub(super) fn rate_and_samples(format: AudioFormat, audio: &[u8], raw_rate: u32) -> (u32, u64) {
    match format {
        AudioFormat::Wav => {
            let pcm = decode_wav(audio).unwrap();
            (pcm.sample_rate, pcm.samples.len() as u64)
        }
        AudioFormat::Pcm => {
            assert_eq!(audio.len() % 2, 0);
            (raw_rate, audio.len() as u64 / 2)
        }
        AudioFormat::Flac => flac(audio),
        AudioFormat::Mp3 => mp3(audio),
    }
}

/// STREAMINFO: 20-bit rate at byte 18, 36-bit total samples at bit 108.
fn flac(audio: &[u8]) -> (u32, u64) {
    assert_eq!(&audio[0..4], b"fLaC");
    assert_eq!(audio[4] & 0x7f, 0, "first block is STREAMINFO");
    let info = &audio[8..42];
    let rate =
        (u32::from(info[10]) << 12) | (u32::from(info[11]) << 4) | (u32::from(info[12]) >> 4);
    let total = (u64::from(info[13] & 0x0f) << 32)
        | u64::from(u32::from_be_bytes([info[14], info[15], info[16], info[17]]));
    (rate, total)
}

/// Counts Layer III frames; the first is LAME's Info frame, holding delay and padding.
fn mp3(audio: &[u8]) -> (u32, u64) {
    const KBPS_V1: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const KBPS_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let mut pos = 0;
    let mut frames = 0u64;
    let mut rate = 0;
    let mut samples_per_frame = 0u64;
    let mut delay_padding = None;
    while pos + 4 <= audio.len() {
        let h = &audio[pos..pos + 4];
        assert!(h[0] == 0xff && h[1] & 0xe0 == 0xe0, "frame sync at {pos}");
        let version = (h[1] >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
        assert_eq!((h[1] >> 1) & 3, 1, "layer III");
        let kbps = if version == 3 { KBPS_V1 } else { KBPS_V2 }[usize::from(h[2] >> 4)];
        let base_rate = [44_100, 48_000, 32_000][usize::from((h[2] >> 2) & 3)];
        rate = match version {
            3 => base_rate,
            2 => base_rate / 2,
            _ => base_rate / 4,
        };
        let padding = usize::from((h[2] >> 1) & 1);
        let (per_frame, factor) = if version == 3 { (1152, 144) } else { (576, 72) };
        samples_per_frame = per_frame;
        let length = (factor * kbps * 1000 / rate) as usize + padding;
        if delay_padding.is_none() {
            let side_info = if version == 3 { 17 } else { 9 };
            let tag = &audio[pos + 4 + side_info..pos + length];
            assert!(
                tag.starts_with(b"Info") || tag.starts_with(b"Xing"),
                "LAME tag"
            );
            let flags = u32::from_be_bytes([tag[4], tag[5], tag[6], tag[7]]);
            let mut lame = 8;
            for (bit, size) in [(1, 4), (2, 4), (4, 100), (8, 4)] {
                if flags & bit != 0 {
                    lame += size;
                }
            }
            let dp = &tag[lame + 21..lame + 24];
            let delay = (u64::from(dp[0]) << 4) | (u64::from(dp[1]) >> 4);
            let pad = (u64::from(dp[1] & 0x0f) << 8) | u64::from(dp[2]);
            delay_padding = Some(delay + pad);
        } else {
            frames += 1;
        }
        pos += length;
    }
    let samples = frames * samples_per_frame - delay_padding.unwrap_or(0);
    (rate, samples)
}
