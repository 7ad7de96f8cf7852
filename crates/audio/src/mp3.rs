//! MP3 encoding through LAME (`mp3lame-encoder`), mono CBR with a LAME/Info
//! tag so decoders can trim the encoder delay and padding.

use std::num::NonZeroU32;

use mp3lame_encoder::{Bitrate, Builder, FlushGap, Mode, MonoPcm, Quality, VbrMode};

use crate::{AudioError, Pcm};

/// LAME bitrates (kbit/s) in ascending order, mirrored from `Bitrate`.
const LAME_KBPS: [(u32, Bitrate); 16] = [
    (8, Bitrate::Kbps8),
    (16, Bitrate::Kbps16),
    (24, Bitrate::Kbps24),
    (32, Bitrate::Kbps32),
    (40, Bitrate::Kbps40),
    (48, Bitrate::Kbps48),
    (64, Bitrate::Kbps64),
    (80, Bitrate::Kbps80),
    (96, Bitrate::Kbps96),
    (112, Bitrate::Kbps112),
    (128, Bitrate::Kbps128),
    (160, Bitrate::Kbps160),
    (192, Bitrate::Kbps192),
    (224, Bitrate::Kbps224),
    (256, Bitrate::Kbps256),
    (320, Bitrate::Kbps320),
];

/// Allowed (min, max) kbit/s for the MPEG version that LAME uses at `rate`,
/// or `None` when MP3 cannot carry that rate at all.
fn kbps_range(rate: u32) -> Option<(u32, u32)> {
    match rate {
        // MPEG-1 Layer III.
        32_000 | 44_100 | 48_000 => Some((32, 320)),
        // MPEG-2 LSF tops out at 160 kbit/s.
        16_000 | 22_050 | 24_000 => Some((8, 160)),
        // MPEG-2.5: LAME refuses more than 64 kbit/s here in practice.
        8_000 | 11_025 | 12_000 => Some((8, 64)),
        _ => None,
    }
}

/// Bytes LAME needs in the first frame for the Xing/Info + LAME extension
/// (`LAMEHEADERSIZE` in LAME's VbrTag.c) on top of the header and side info.
const LAME_TAG_BYTES: u32 = 156;

/// Smallest bitrate (kbit/s) whose frames can hold the Info tag at `rate`.
/// Below it LAME silently drops the tag, decoders can no longer trim the
/// encoder delay/padding, and decoded clips run up to ~100 ms long.
fn tag_floor_kbps(rate: u32) -> u32 {
    // MPEG-1 frames carry 1152 samples and 17 bytes of mono side info;
    // MPEG-2/2.5 frames carry 576 samples and 9 bytes.
    let (samples_per_frame, side_info) = if rate >= 32_000 { (1152, 17) } else { (576, 9) };
    let needed_bytes = 4 + side_info + LAME_TAG_BYTES;
    // frame_bytes = samples_per_frame / 8 * bitrate / rate, solved for bitrate.
    (needed_bytes * 8 * rate).div_ceil(samples_per_frame * 1000)
}

/// Picks the LAME bitrate for a requested `bitrate` bit/s at `rate`: the
/// closest one not above the request, raised to the Info-tag floor, and kept
/// within what the MPEG version at `rate` permits.
pub(crate) fn effective_bitrate(rate: u32, bitrate: u32) -> Option<Bitrate> {
    let (min, max) = kbps_range(rate)?;
    let wanted = (bitrate / 1000).clamp(min, max);
    let floor = tag_floor_kbps(rate);
    let pick = LAME_KBPS
        .iter()
        .rev()
        .find(|(k, _)| *k <= wanted)
        .map(|(k, b)| (*k, *b))?;
    if pick.0 >= floor {
        return Some(pick.1);
    }
    LAME_KBPS
        .iter()
        .find(|(k, _)| *k >= floor && *k <= max)
        .map(|(_, b)| *b)
        .or(Some(pick.1))
}

fn lame_err(e: impl std::fmt::Debug) -> AudioError {
    AudioError::Encode {
        format: "mp3",
        message: format!("{e:?}"),
    }
}

/// A mono CBR LAME encoder at `rate` (no resampling by LAME), with or without the Info tag
/// (a stream that has started cannot have its first frame rewritten).
pub(crate) fn lame_encoder(
    rate: u32,
    bitrate: u32,
    info_tag: bool,
) -> Result<mp3lame_encoder::Encoder, AudioError> {
    let unsupported = AudioError::UnsupportedSampleRate { what: "mp3", rate };
    let brate = effective_bitrate(rate, bitrate).ok_or(unsupported.clone())?;
    let out_rate = NonZeroU32::new(rate).ok_or(unsupported)?;

    let mut builder = Builder::new().ok_or_else(|| lame_err("cannot allocate LAME"))?;
    builder.set_num_channels(1).map_err(lame_err)?;
    builder.set_sample_rate(rate).map_err(lame_err)?;
    // Without this LAME may pick a lower output rate for low bitrates, which
    // would make the decoded audio disagree with the requested sample rate.
    builder
        .set_output_sample_rate(Some(out_rate))
        .map_err(lame_err)?;
    builder.set_mode(Mode::Mono).map_err(lame_err)?;
    builder.set_vbr_mode(VbrMode::Off).map_err(lame_err)?;
    builder.set_brate(brate).map_err(lame_err)?;
    // Quality 7 is LAME's "fast" preset; a simulator and a local engine care
    // far more about latency than psychoacoustic polish.
    builder.set_quality(Quality::Ok).map_err(lame_err)?;
    builder.set_to_write_vbr_tag(info_tag).map_err(lame_err)?;
    builder.build().map_err(lame_err)
}

/// Encodes `samples` on `encoder`, appending to `out`.
pub(crate) fn encode_more(
    encoder: &mut mp3lame_encoder::Encoder,
    samples: &[i16],
    out: &mut Vec<u8>,
) -> Result<(), AudioError> {
    out.reserve(mp3lame_encoder::max_required_buffer_size(samples.len()));
    encoder
        .encode_to_vec(MonoPcm(samples), out)
        .map_err(lame_err)?;
    Ok(())
}

/// Ends `encoder`'s stream, appending its last frames to `out`.
pub(crate) fn finish(
    encoder: &mut mp3lame_encoder::Encoder,
    out: &mut Vec<u8>,
) -> Result<(), AudioError> {
    out.reserve(7200);
    encoder.flush_to_vec::<FlushGap>(out).map_err(lame_err)?;
    Ok(())
}

/// Encodes mono CBR MP3 at the PCM's own sample rate (no resampling by LAME).
pub(crate) fn encode_mp3(pcm: &Pcm, bitrate: u32) -> Result<Vec<u8>, AudioError> {
    let mut encoder = lame_encoder(pcm.sample_rate, bitrate, true)?;
    let mut out = Vec::new();
    encode_more(&mut encoder, &pcm.samples, &mut out)?;
    finish(&mut encoder, &mut out)?;

    // LAME emitted a placeholder first frame; overwrite it with the real
    // Info tag (delay/padding) so decoders produce the exact sample count.
    let tag_len = encoder.lame_tag_size();
    if tag_len > 0 {
        let mut tag = Vec::with_capacity(tag_len);
        if encoder.lame_tag_encode_to_vec(&mut tag).is_some() && tag.len() <= out.len() {
            out[..tag.len()].copy_from_slice(&tag);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kbps(rate: u32, bitrate: u32) -> u16 {
        effective_bitrate(rate, bitrate).map_or(0, |b| b as u16)
    }

    #[test]
    fn bitrate_is_clamped_per_mpeg_version_and_tag_floor() {
        assert_eq!(kbps(44_100, 256_000), 256);
        assert_eq!(kbps(44_100, 128_000), 128);
        assert_eq!(kbps(44_100, 32_000), 64);
        assert_eq!(kbps(32_000, 32_000), 40);
        assert_eq!(kbps(24_000, 256_000), 160);
        assert_eq!(kbps(16_000, 32_000), 40);
        assert_eq!(kbps(8_000, 256_000), 64);
        assert_eq!(kbps(8_000, 32_000), 32);
        assert_eq!(kbps(12_345, 128_000), 0);
    }
}
