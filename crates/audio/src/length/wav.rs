//! WAV length from the RIFF chunks: the `fmt ` chunk's rate and block size, and the bytes of
//! the `data` chunk that arrived, never more than its header declares. A size of 0 or
//! 0xFFFFFFFF (a streamed WAV, written before its length was known) means "to the end".

use super::gather::{pass, Gather};
use super::AudioLength;

/// `RIFF`, the file size and `WAVE`.
const RIFF_HEADER: usize = 12;
/// A chunk's id and size.
const CHUNK_HEADER: usize = 8;
/// The part of `fmt ` every PCM WAV has: tag, channels, rate, byte rate, block align, bits.
const FMT_BYTES: usize = 16;

/// Where the counter is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Riff,
    ChunkHeader,
    /// Reading `fmt `, `size` bytes in all.
    Fmt {
        size: u64,
    },
    /// Passing over the rest of a chunk that is not `data`.
    Skip,
    /// Counting `data`; `None` left: to the end of the stream. `pad`: the byte after an
    /// odd-sized chunk.
    Data {
        left: Option<u64>,
        pad: u64,
    },
    /// Not a RIFF/WAVE stream: nothing in it counts.
    NotWav,
}

/// The stage that passes over `bytes` (kept in `skip`) before the next chunk header.
fn skip_over(skip: &mut u64, bytes: u64) -> Stage {
    *skip = bytes;
    match bytes {
        0 => Stage::ChunkHeader,
        _ => Stage::Skip,
    }
}

/// Counts the sample bytes of a WAV stream.
#[derive(Debug)]
pub(super) struct WavCounter {
    stage: Stage,
    gather: Gather,
    skip: u64,
    sample_rate: u32,
    /// Bytes per sample frame (all channels); mono 16-bit until `fmt ` says.
    block_align: u64,
    data: u64,
}

impl WavCounter {
    pub(super) fn new(sample_rate: u32) -> WavCounter {
        WavCounter {
            stage: Stage::Riff,
            gather: Gather::default(),
            skip: 0,
            sample_rate,
            block_align: 2,
            data: 0,
        }
    }

    pub(super) fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let want = match self.stage {
                Stage::NotWav => return,
                Stage::Data { left: None, .. } => {
                    self.data += chunk.len() as u64;
                    return;
                }
                Stage::Data {
                    left: Some(mut left),
                    pad,
                } => {
                    self.data += pass(&mut left, &mut chunk);
                    self.stage = match left {
                        0 => skip_over(&mut self.skip, pad),
                        _ => Stage::Data {
                            left: Some(left),
                            pad,
                        },
                    };
                    continue;
                }
                Stage::Skip => {
                    pass(&mut self.skip, &mut chunk);
                    if self.skip == 0 {
                        self.stage = Stage::ChunkHeader;
                    }
                    continue;
                }
                Stage::Riff => RIFF_HEADER,
                Stage::ChunkHeader => CHUNK_HEADER,
                Stage::Fmt { .. } => FMT_BYTES,
            };
            if !self.gather.fill(&mut chunk, want) {
                return;
            }
            self.stage = self.next_stage();
            self.gather.clear();
        }
    }

    /// Decides what the gathered bytes are.
    fn next_stage(&mut self) -> Stage {
        let held = self.gather.held();
        let le32 =
            |at: usize| u32::from_le_bytes([held[at], held[at + 1], held[at + 2], held[at + 3]]);
        match self.stage {
            Stage::Riff if held.starts_with(b"RIFF") && &held[8..12] == b"WAVE" => {
                Stage::ChunkHeader
            }
            Stage::Riff => Stage::NotWav,
            Stage::ChunkHeader => {
                let size = le32(4);
                // Chunks are padded to an even length.
                let padded = u64::from(size) + u64::from(size & 1);
                match &held[..4] {
                    b"fmt " => Stage::Fmt { size: padded },
                    b"data" if size == 0 || size == u32::MAX => Stage::Data { left: None, pad: 0 },
                    b"data" => Stage::Data {
                        left: Some(u64::from(size)),
                        pad: u64::from(size & 1),
                    },
                    _ => skip_over(&mut self.skip, padded),
                }
            }
            Stage::Fmt { size } => {
                self.sample_rate = le32(4);
                let align = u16::from_le_bytes([held[12], held[13]]);
                self.block_align = u64::from(align.max(1));
                skip_over(&mut self.skip, size.saturating_sub(FMT_BYTES as u64))
            }
            other => other,
        }
    }

    pub(super) fn length(&self) -> AudioLength {
        AudioLength {
            samples: self.data / self.block_align,
            sample_rate: self.sample_rate,
        }
    }
}
