//! FLAC encoding through `flacenc`, 16-bit mono, single-threaded.

use flacenc::component::BitRepr;
use flacenc::error::Verify;

use crate::{AudioError, Pcm};

/// FLAC's STREAMINFO stores the rate in 20 bits.
const MAX_FLAC_RATE: u32 = 655_350;

fn flac_err(e: impl std::fmt::Debug) -> AudioError {
    AudioError::Encode {
        format: "flac",
        message: format!("{e:?}"),
    }
}

/// Encodes `pcm` as a complete FLAC stream (fLaC marker + STREAMINFO + frames).
pub(crate) fn encode_flac(pcm: &Pcm) -> Result<Vec<u8>, AudioError> {
    if pcm.sample_rate > MAX_FLAC_RATE {
        return Err(AudioError::UnsupportedSampleRate {
            what: "flac",
            rate: pcm.sample_rate,
        });
    }
    let mut config = flacenc::config::Encoder::default();
    // Worker threads cost more than they save on clips this short, and a
    // server calling us concurrently already uses every core.
    config.multithread = false;
    let config = config.into_verified().map_err(|(_, e)| flac_err(e))?;
    let samples: Vec<i32> = pcm.samples.iter().map(|&s| i32::from(s)).collect();
    let source = flacenc::source::MemSource::from_samples(
        &samples,
        1,
        16,
        usize::try_from(pcm.sample_rate).map_err(flac_err)?,
    );
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(flac_err)?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(flac_err)?;
    Ok(sink.into_inner())
}
