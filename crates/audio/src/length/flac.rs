//! FLAC length. A whole file says its total in STREAMINFO; a stream (whose STREAMINFO may say
//! 0, and which a client may leave early) is measured by its frames: each frame header gives
//! its block size, and a header is believed only when its CRC-8 holds and its frame (or sample)
//! number is the next one, so audio bytes that look like a sync code are not taken for a frame.
//! A frame counts once the next header arrives, or when its CRC-16 footer checks out at the
//! end of what was fed.

use super::gather::{pass, Gather};
use super::AudioLength;

/// A metadata block's header: last-block flag, type, 24-bit length.
const BLOCK_HEADER: usize = 4;
/// The STREAMINFO block's body.
const STREAMINFO: usize = 34;

/// Sample rates by a frame header's rate code (0: see STREAMINFO; 12-14: in the header).
const FRAME_RATES: [u32; 12] = [
    0, 88_200, 176_400, 192_000, 8_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000,
];

const fn crc_table(poly: u16, width: u32) -> [u16; 256] {
    let top = 1u16 << (width - 1);
    let mask = if width == 16 {
        u16::MAX
    } else {
        (1 << width) - 1
    };
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << (width - 8);
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & top != 0 {
                (crc << 1) ^ poly
            } else {
                crc << 1
            } & mask;
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
}

/// FLAC's header CRC-8 (polynomial 0x07) and footer CRC-16 (0x8005), both from 0.
const CRC8: [u16; 256] = crc_table(0x07, 8);
const CRC16: [u16; 256] = crc_table(0x8005, 16);

fn crc8(bytes: &[u8]) -> u8 {
    let crc = bytes
        .iter()
        .fold(0u16, |crc, &b| CRC8[usize::from((crc as u8) ^ b)]);
    crc as u8
}

fn crc16(crc: u16, byte: u8) -> u16 {
    (crc << 8) ^ CRC16[usize::from(((crc >> 8) as u8) ^ byte)]
}

/// What the bytes at a possible frame start are.
#[derive(Debug, PartialEq, Eq)]
enum Candidate {
    /// Too few bytes to tell yet.
    Incomplete,
    /// Not a frame header.
    Invalid,
    /// A frame header of this block size (samples) and sample rate code.
    Frame { samples: u64, rate_code: u8 },
}

/// Reads a frame header at the start of `w` (which starts with 0xFF); `number` is the frame
/// number (fixed block size) or sample number (variable) the next frame must carry.
fn frame_header(w: &[u8], frame_number: u64, sample_number: u64) -> Candidate {
    use Candidate::{Incomplete, Invalid};
    let Some(&[_, sync, sizes, format]) = w.get(..4) else {
        return match w.get(1) {
            Some(sync) if sync & 0xfe != 0xf8 => Invalid,
            _ => Incomplete,
        };
    };
    if sync & 0xfe != 0xf8 {
        return Invalid;
    }
    let (block_code, rate_code) = (sizes >> 4, sizes & 0x0f);
    let (channels, sample_size) = (format >> 4, (format >> 1) & 7);
    if block_code == 0 || rate_code == 15 || channels >= 11 || sample_size == 3 || format & 1 != 0 {
        return Invalid;
    }
    let Some(&lead) = w.get(4) else {
        return Incomplete;
    };
    // The frame or sample number, UTF-8 style: 1 to 7 bytes.
    let number_len = match lead.leading_ones() {
        0 => 1,
        n @ 2..=7 => n as usize,
        _ => return Invalid,
    };
    let extra_block = match block_code {
        6 => 1,
        7 => 2,
        _ => 0,
    };
    let extra_rate = match rate_code {
        12 => 1,
        13 | 14 => 2,
        _ => 0,
    };
    let len = 4 + number_len + extra_block + extra_rate + 1;
    let Some(header) = w.get(..len) else {
        return Incomplete;
    };
    let number_bytes = &header[4..4 + number_len];
    // The lead byte's value bits: 7 alone, else after `number_len` ones and a zero.
    let lead_bits = if number_len == 1 {
        0x7f
    } else {
        0x7f >> number_len
    };
    let mut number = u64::from(lead & lead_bits);
    for &b in &number_bytes[1..] {
        if b & 0xc0 != 0x80 {
            return Invalid;
        }
        number = (number << 6) | u64::from(b & 0x3f);
    }
    let expected = if sync & 1 == 0 {
        frame_number
    } else {
        sample_number
    };
    if crc8(&header[..len - 1]) != header[len - 1] || number != expected {
        return Invalid;
    }
    let tail = &header[4 + number_len..];
    let samples = match block_code {
        1 => 192,
        2..=5 => 576 << (block_code - 2),
        6 => u64::from(tail[0]) + 1,
        7 => u64::from(u16::from_be_bytes([tail[0], tail[1]])) + 1,
        _ => 256 << (block_code - 8),
    };
    Candidate::Frame { samples, rate_code }
}

/// Where the counter is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Magic,
    BlockHeader,
    StreamInfo {
        size: u64,
        last: bool,
    },
    /// Passing over the rest of a metadata block.
    Skip {
        last: bool,
    },
    Frames,
}

/// Counts the whole frames of a flac stream.
#[derive(Debug)]
pub(super) struct FlacCounter {
    stage: Stage,
    gather: Gather,
    skip: u64,
    /// STREAMINFO's rate (else the first frame's, else the caller's).
    sample_rate: Option<u32>,
    fallback_rate: u32,
    /// STREAMINFO's total samples, when it gives one.
    total: Option<u64>,
    /// Bytes from a 0xFF on that may be a frame header, not yet decided.
    window: Vec<u8>,
    frames: u64,
    /// Samples of the frames known whole.
    counted: u64,
    /// Samples of the frame being read, and the CRC-16 of its bytes so far.
    pending: Option<u64>,
    crc: u16,
}

impl FlacCounter {
    pub(super) fn new(fallback_rate: u32) -> FlacCounter {
        FlacCounter {
            stage: Stage::Magic,
            gather: Gather::default(),
            skip: 0,
            sample_rate: None,
            fallback_rate,
            total: None,
            window: Vec::new(),
            frames: 0,
            counted: 0,
            pending: None,
            crc: 0,
        }
    }

    pub(super) fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let want = match self.stage {
                Stage::Frames => {
                    for &b in chunk {
                        self.scan(b);
                    }
                    return;
                }
                Stage::Skip { last } => {
                    pass(&mut self.skip, &mut chunk);
                    if self.skip == 0 {
                        self.stage = after_block(last);
                    }
                    continue;
                }
                Stage::Magic | Stage::BlockHeader => BLOCK_HEADER,
                Stage::StreamInfo { .. } => STREAMINFO,
            };
            if !self.gather.fill(&mut chunk, want) {
                return;
            }
            let held = std::mem::take(&mut self.gather);
            self.metadata(held.held());
            self.gather = held;
            self.gather.clear();
        }
    }

    /// Reads a gathered piece of the metadata.
    fn metadata(&mut self, held: &[u8]) {
        self.stage = match self.stage {
            Stage::Magic if held == b"fLaC" => Stage::BlockHeader,
            Stage::Magic => {
                // No stream header: frames from the first byte.
                self.stage = Stage::Frames;
                for &b in held {
                    self.scan(b);
                }
                return;
            }
            Stage::BlockHeader => {
                let last = held[0] & 0x80 != 0;
                let size = u64::from(u32::from_be_bytes([0, held[1], held[2], held[3]]));
                if held[0] & 0x7f == 0 && size >= STREAMINFO as u64 {
                    Stage::StreamInfo { size, last }
                } else {
                    self.skip_block(size, last)
                }
            }
            Stage::StreamInfo { size, last } => {
                let rate = (u32::from(held[10]) << 12)
                    | (u32::from(held[11]) << 4)
                    | (u32::from(held[12]) >> 4);
                let total = (u64::from(held[13] & 0x0f) << 32)
                    | u64::from(u32::from_be_bytes([held[14], held[15], held[16], held[17]]));
                self.sample_rate = Some(rate);
                self.total = (total > 0).then_some(total);
                self.skip_block(size - STREAMINFO as u64, last)
            }
            other => other,
        };
    }

    fn skip_block(&mut self, bytes: u64, last: bool) -> Stage {
        self.skip = bytes;
        match bytes {
            0 => after_block(last),
            _ => Stage::Skip { last },
        }
    }

    /// Takes one byte of the frames: part of a possible header, or of the frame being read.
    fn scan(&mut self, byte: u8) {
        if self.window.is_empty() && byte != 0xff {
            self.crc = crc16(self.crc, byte);
            return;
        }
        self.window.push(byte);
        loop {
            let sample_number = self.counted + self.pending.unwrap_or(0);
            match frame_header(&self.window, self.frames, sample_number) {
                Candidate::Incomplete => return,
                Candidate::Frame { samples, rate_code } => {
                    self.counted = sample_number;
                    self.pending = Some(samples);
                    self.frames += 1;
                    self.crc = self.window.iter().fold(0, |crc, &b| crc16(crc, b));
                    self.window.clear();
                    if self.sample_rate.is_none() {
                        self.sample_rate = FRAME_RATES
                            .get(usize::from(rate_code))
                            .copied()
                            .filter(|r| *r > 0);
                    }
                    return;
                }
                Candidate::Invalid => {
                    // The first byte is frame data, and so is all up to the next 0xFF, where
                    // a header may still start.
                    let next = self.window[1..]
                        .iter()
                        .position(|&b| b == 0xff)
                        .map_or(self.window.len(), |at| at + 1);
                    for b in self.window.drain(..next) {
                        self.crc = crc16(self.crc, b);
                    }
                    if self.window.is_empty() {
                        return;
                    }
                }
            }
        }
    }

    pub(super) fn length(&self) -> AudioLength {
        // The frame being read is whole when its CRC-16, footer included, comes to 0.
        let crc = self.window.iter().fold(self.crc, |crc, &b| crc16(crc, b));
        let last = self.pending.filter(|_| crc == 0).unwrap_or(0);
        AudioLength {
            samples: self.counted + last,
            sample_rate: self.sample_rate.unwrap_or(self.fallback_rate),
        }
    }

    /// What STREAMINFO says the whole stream holds, when it gives a total.
    pub(super) fn declared(&self) -> Option<AudioLength> {
        Some(AudioLength {
            samples: self.total?,
            sample_rate: self.sample_rate.unwrap_or(self.fallback_rate),
        })
    }
}

/// The stage after a metadata block: the next block, or the frames after the last one.
fn after_block(last: bool) -> Stage {
    if last {
        Stage::Frames
    } else {
        Stage::BlockHeader
    }
}
