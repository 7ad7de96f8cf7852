//! MP3 (MPEG-1, 2 and 2.5 Layer III) length from frame headers: every whole frame holds a
//! fixed number of samples. A leading Xing/Info frame holds none; its LAME extension gives the
//! encoder delay and padding a gapless decoder trims, so LAME's output measures exactly the
//! samples it was given. An ID3v2 tag in front is passed over, bytes that start no frame are
//! skipped one at a time, and frames of another MPEG version or rate than the first are not
//! part of the stream.

use super::gather::{pass, Gather};
use super::AudioLength;

/// Layer III bitrates (kbit/s) by index, MPEG-1 and MPEG-2/2.5; 0 and 15 are not bitrates.
const KBPS_V1: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const KBPS_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

/// Sample rates of MPEG-1 by index; MPEG-2 halves them, MPEG-2.5 quarters them.
const RATES_V1: [u32; 3] = [44_100, 48_000, 32_000];

/// An ID3v2 tag's header: `ID3`, version, flags and a 28-bit size.
const ID3_HEADER: usize = 10;

/// Encoders whose Xing/Info frame carries the LAME extension with delay and padding.
const LAME_EXTENSIONS: [&[u8]; 3] = [b"LAME", b"Lavc", b"Lavf"];

/// What one frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHeader {
    /// Version, layer and rate bits: equal for every frame of one stream.
    stream: (u8, u8),
    sample_rate: u32,
    samples: u64,
    /// Bytes of the whole frame, header included.
    len: usize,
    /// Bytes of side information after the header (where a Xing/Info tag starts).
    side_info: usize,
}

/// Parses a Layer III frame header, or `None` where no frame starts.
fn frame_header(h: &[u8]) -> Option<FrameHeader> {
    let [b0, b1, b2, b3, ..] = *h else {
        return None;
    };
    if b0 != 0xff || b1 & 0xe0 != 0xe0 {
        return None;
    }
    // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5, 1 reserved; layer bits 1 = Layer III.
    let version = (b1 >> 3) & 3;
    if version == 1 || (b1 >> 1) & 3 != 1 {
        return None;
    }
    let bitrate_index = usize::from(b2 >> 4);
    let rate_index = usize::from((b2 >> 2) & 3);
    let mpeg1 = version == 3;
    let kbps = *if mpeg1 { &KBPS_V1 } else { &KBPS_V2 }.get(bitrate_index)?;
    let base_rate = *RATES_V1.get(rate_index)?;
    if kbps == 0 {
        // Free format: no length in the header.
        return None;
    }
    let sample_rate = match version {
        3 => base_rate,
        2 => base_rate / 2,
        _ => base_rate / 4,
    };
    let padding = usize::from((b2 >> 1) & 1);
    let mono = b3 >> 6 == 3;
    let (samples, bytes_per_kbps, side_info) = match (mpeg1, mono) {
        (true, true) => (1152, 144, 17),
        (true, false) => (1152, 144, 32),
        (false, true) => (576, 72, 9),
        (false, false) => (576, 72, 17),
    };
    let len = usize::try_from(bytes_per_kbps * kbps * 1000 / sample_rate).ok()? + padding;
    Some(FrameHeader {
        stream: (b1 & 0x1e, b2 & 0x0c),
        sample_rate,
        samples,
        len,
        side_info,
    })
}

/// What a Xing/Info frame says about the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct InfoTag {
    /// Audio frames after the tag, when it says.
    frames: Option<u64>,
    /// Samples of encoder delay at the start.
    delay: u64,
    /// Samples of padding at the end.
    padding: u64,
}

/// The Xing/Info tag of a whole first `frame`, if it is one.
fn info_tag(frame: &[u8], header: &FrameHeader) -> Option<InfoTag> {
    let tag = frame.get(4 + header.side_info..)?;
    if !(tag.starts_with(b"Info") || tag.starts_with(b"Xing")) {
        return None;
    }
    let word = |at: usize| -> Option<u32> {
        let bytes = tag.get(at..at + 4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    };
    let flags = word(4)?;
    let mut at = 8;
    let mut info = InfoTag::default();
    if flags & 1 != 0 {
        info.frames = word(at).map(u64::from);
        at += 4;
    }
    // Byte count, table of contents, quality.
    for (flag, size) in [(2, 4), (4, 100), (8, 4)] {
        if flags & flag != 0 {
            at += size;
        }
    }
    let extension = tag.get(at..)?;
    let from_lame = LAME_EXTENSIONS.iter().any(|e| extension.starts_with(e));
    // Encoder name and version (9), revision, lowpass, replay gain (8), flags, bitrate:
    // then 12 bits of delay and 12 of padding.
    if let (true, Some(d)) = (from_lame, extension.get(21..24)) {
        info.delay = (u64::from(d[0]) << 4) | (u64::from(d[1]) >> 4);
        info.padding = (u64::from(d[1] & 0x0f) << 8) | u64::from(d[2]);
    }
    Some(info)
}

/// Where the counter is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Stage {
    /// Looking for a frame header (or, before the first frame, an ID3v2 tag).
    #[default]
    Header,
    /// Reading an ID3v2 tag's header for its size.
    Id3,
    /// Gathering the whole first frame, to see whether it is a Xing/Info tag.
    FirstFrame(FrameHeader),
    /// Passing over the rest of a frame (counted once whole) or of a tag.
    Skip { counts: bool },
}

/// Counts the whole frames of an mp3 stream.
#[derive(Debug, Default)]
pub(super) struct Mp3Counter {
    stage: Stage,
    gather: Gather,
    skip: u64,
    /// The first frame's header, which every later frame must match.
    first: Option<FrameHeader>,
    tag: Option<InfoTag>,
    frames: u64,
}

impl Mp3Counter {
    pub(super) fn feed(&mut self, mut chunk: &[u8]) {
        loop {
            if let Stage::Skip { counts } = self.stage {
                pass(&mut self.skip, &mut chunk);
                if self.skip > 0 {
                    return;
                }
                self.frames += u64::from(counts);
                self.stage = Stage::Header;
            }
            let want = match self.stage {
                Stage::Id3 => ID3_HEADER,
                Stage::FirstFrame(header) => header.len,
                _ => 4,
            };
            if !self.gather.fill(&mut chunk, want) {
                return;
            }
            // Moved out for the decision, which reads it while it updates the counter.
            let mut gather = std::mem::take(&mut self.gather);
            self.stage = self.next_stage(&mut gather);
            self.gather = gather;
        }
    }

    /// Decides what the gathered bytes are: the next stage, with the bytes consumed (or, where
    /// no frame starts, the first of them dropped).
    fn next_stage(&mut self, gather: &mut Gather) -> Stage {
        let held = gather.held();
        let next = match self.stage {
            Stage::Header if self.first.is_none() && held.starts_with(b"ID3") => {
                return Stage::Id3;
            }
            Stage::Header => match frame_header(held) {
                Some(header) if self.first.is_none() => return Stage::FirstFrame(header),
                Some(header) if self.first.is_some_and(|f| f.stream == header.stream) => {
                    self.skip = header.len as u64;
                    Stage::Skip { counts: true }
                }
                _ => {
                    gather.slide();
                    return Stage::Header;
                }
            },
            Stage::Id3 => {
                let size = held[6..10]
                    .iter()
                    .fold(0u64, |n, b| (n << 7) | u64::from(b & 0x7f));
                let footer = if held[5] & 0x10 != 0 { 10 } else { 0 };
                self.skip = ID3_HEADER as u64 + size + footer;
                Stage::Skip { counts: false }
            }
            Stage::FirstFrame(header) => {
                self.first = Some(header);
                self.tag = info_tag(held, &header);
                self.frames += u64::from(self.tag.is_none());
                Stage::Header
            }
            Stage::Skip { .. } => Stage::Header,
        };
        // The gathered bytes are the start of what is skipped.
        self.skip = self.skip.saturating_sub(held.len() as u64);
        gather.clear();
        next
    }

    pub(super) fn length(&self) -> AudioLength {
        let Some(first) = self.first else {
            return AudioLength {
                samples: 0,
                sample_rate: 0,
            };
        };
        let mut samples = self.frames * first.samples;
        if let Some(tag) = self.tag {
            samples = samples.saturating_sub(tag.delay);
            // The padding is in the last frame: trimmed once every frame the tag counts is in.
            if tag.frames.is_some_and(|frames| self.frames >= frames) {
                samples = samples.saturating_sub(tag.padding);
            }
        }
        AudioLength {
            samples,
            sample_rate: first.sample_rate,
        }
    }
}
