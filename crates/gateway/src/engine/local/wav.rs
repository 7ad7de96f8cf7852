//! Repair of the WAV header eSpeak NG writes with `--stdout`.
//!
//! When writing to a pipe eSpeak cannot seek back, so its header carries placeholder
//! sizes (`0x7ffff024` for RIFF, `0x7ffff000` for data). The sizes are rewritten to what
//! was actually received before the bytes go to the WAV decoder.

/// Rewrites the RIFF and `data` chunk sizes of `wav` to match its real length, dropping a
/// trailing odd byte of sample data. Errors (for logs) when it is not a RIFF/WAVE stream
/// with a data chunk.
pub(crate) fn repair_streamed_wav(mut wav: Vec<u8>) -> Result<Vec<u8>, String> {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return Err(format!("output is not a WAV stream ({} bytes)", wav.len()));
    }
    let mut pos = 12usize;
    loop {
        let body = pos
            .checked_add(8)
            .filter(|&body| body <= wav.len())
            .ok_or_else(|| "WAV stream has no data chunk".to_owned())?;
        let declared = read_u32(&wav[pos + 4..body]) as usize;
        if &wav[pos..pos + 4] == b"data" {
            let size = declared.min(wav.len() - body) & !1;
            wav.truncate(body + size);
            write_u32(&mut wav[pos + 4..body], size);
            let riff_size = wav.len() - 8;
            write_u32(&mut wav[4..8], riff_size);
            return Ok(wav);
        }
        pos = body
            .checked_add(declared)
            .and_then(|end| end.checked_add(declared & 1))
            .ok_or_else(|| "WAV chunk size overflows".to_owned())?;
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

fn write_u32(bytes: &mut [u8], value: usize) {
    let value = u32::try_from(value).unwrap_or(u32::MAX);
    bytes.copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 22050 Hz mono 16-bit header with the given RIFF and data sizes.
    fn header(riff_size: u32, data_size: u32) -> Vec<u8> {
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&riff_size.to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&[1, 0, 1, 0]);
        wav.extend_from_slice(&22050u32.to_le_bytes());
        wav.extend_from_slice(&44100u32.to_le_bytes());
        wav.extend_from_slice(&[2, 0, 16, 0]);
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&data_size.to_le_bytes());
        wav
    }

    #[test]
    fn placeholder_sizes_are_replaced() {
        let mut wav = header(0x7fff_f024, 0x7fff_f000);
        wav.extend_from_slice(&[1, 0, 2, 0, 3, 0]);
        let fixed = repair_streamed_wav(wav).unwrap_or_default();
        assert_eq!(fixed.len(), 50);
        assert_eq!(read_u32(&fixed[4..8]), 42);
        assert_eq!(read_u32(&fixed[40..44]), 6);
    }

    #[test]
    fn odd_trailing_byte_is_dropped() {
        let mut wav = header(0x7fff_f024, 0x7fff_f000);
        wav.extend_from_slice(&[1, 0, 2]);
        let fixed = repair_streamed_wav(wav).unwrap_or_default();
        assert_eq!(fixed.len(), 46);
        assert_eq!(read_u32(&fixed[40..44]), 2);
    }

    #[test]
    fn correct_header_is_kept_and_extra_chunks_skipped() {
        let mut wav = header(0, 4);
        wav.extend_from_slice(&[9, 0, 9, 0]);
        wav.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        let mut with_list_first = header(0, 0);
        with_list_first.truncate(36);
        with_list_first.extend_from_slice(b"LIST\x01\0\0\0x\0data\x02\0\0\0\x05\0");
        let fixed = repair_streamed_wav(wav).unwrap_or_default();
        assert_eq!(fixed.len(), 48);
        assert_eq!(read_u32(&fixed[40..44]), 4);
        let fixed = repair_streamed_wav(with_list_first).unwrap_or_default();
        assert_eq!(&fixed[fixed.len() - 2..], &[5, 0]);
        assert_eq!(read_u32(&fixed[4..8]) as usize, fixed.len() - 8);
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(repair_streamed_wav(Vec::new()).is_err());
        assert!(repair_streamed_wav(b"not a wav file at all".to_vec()).is_err());
        let mut no_data = header(36, 0);
        no_data.truncate(36);
        assert!(repair_streamed_wav(no_data).is_err());
        let mut huge_chunk = header(36, 0);
        huge_chunk.truncate(36);
        huge_chunk.extend_from_slice(b"JUNK\xff\xff\xff\xff");
        assert!(repair_streamed_wav(huge_chunk).is_err());
    }
}
