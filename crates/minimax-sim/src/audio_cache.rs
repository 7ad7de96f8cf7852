//! Bounded cache of encoded audio (bytes + lowercase hex) so repeated
//! requests never re-synthesise or re-encode — the simulator must keep up with
//! thousands of requests per second during gateway benchmarks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use odeadev_audio::{encode, speechlike, AudioError, AudioFormat};

use crate::state::lock;

/// At most this many clips are cached...
const MAX_ENTRIES: usize = 1024;
/// ...and at most this many bytes (audio + hex) in total.
const MAX_BYTES: usize = 256 * 1024 * 1024;

/// What identifies a clip: everything that changes its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AudioKey {
    pub format: AudioFormat,
    pub sample_rate: u32,
    /// Only meaningful for mp3; normalised to 0 otherwise so formats that
    /// ignore it share entries.
    pub bitrate: u32,
    pub duration_ms: u64,
    pub seed: u64,
}

/// An encoded clip, ready to be sent.
#[derive(Debug)]
pub(crate) struct EncodedAudio {
    pub bytes: Bytes,
    /// Lowercase hex of `bytes` (ASCII, so it can be sliced at even offsets).
    pub hex: Bytes,
}

#[derive(Default)]
struct Inner {
    map: HashMap<AudioKey, Arc<EncodedAudio>>,
    order: VecDeque<AudioKey>,
    bytes: usize,
}

/// The cache itself.
#[derive(Default)]
pub(crate) struct AudioCache {
    inner: Mutex<Inner>,
}

impl AudioCache {
    /// Returns the cached clip or synthesises + encodes it on a blocking
    /// thread. Concurrent first requests for one key may both encode; the
    /// result is identical, so that only costs CPU once per key.
    pub async fn get_or_encode(&self, mut key: AudioKey) -> Result<Arc<EncodedAudio>, AudioError> {
        if key.format != AudioFormat::Mp3 {
            key.bitrate = 0;
        }
        if let Some(hit) = lock(&self.inner).map.get(&key) {
            return Ok(Arc::clone(hit));
        }
        let encoded = tokio::task::spawn_blocking(move || {
            let pcm = speechlike(key.duration_ms, key.sample_rate, key.seed);
            let bytes = encode(&pcm, key.format, key.bitrate)?;
            let hex = hex::encode(&bytes);
            Ok::<_, AudioError>(Arc::new(EncodedAudio {
                bytes: Bytes::from(bytes),
                hex: Bytes::from(hex),
            }))
        })
        .await
        .map_err(|e| AudioError::Encode {
            format: key.format.as_str(),
            message: e.to_string(),
        })??;
        self.insert(key, Arc::clone(&encoded));
        Ok(encoded)
    }

    fn insert(&self, key: AudioKey, value: Arc<EncodedAudio>) {
        let size = value.bytes.len() + value.hex.len();
        if size > MAX_BYTES {
            return;
        }
        let mut inner = lock(&self.inner);
        if inner.map.contains_key(&key) {
            return;
        }
        while inner.order.len() >= MAX_ENTRIES || inner.bytes + size > MAX_BYTES {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(v) = inner.map.remove(&old) {
                inner.bytes -= v.bytes.len() + v.hex.len();
            }
        }
        inner.order.push_back(key);
        inner.bytes += size;
        inner.map.insert(key, value);
    }
}
