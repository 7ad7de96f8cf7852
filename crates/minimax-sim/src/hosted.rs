//! Audio served at `/_sim/audio/{id}` for `output_format=url` and clone
//! previews. Bounded so a long benchmark cannot exhaust memory.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

/// Most files kept; the oldest is evicted first.
const CAPACITY: usize = 512;

/// Hosted files keyed by id.
#[derive(Default)]
pub(crate) struct HostedAudio {
    files: HashMap<String, (Bytes, &'static str)>,
    order: VecDeque<String>,
    next_id: u64,
}

impl HostedAudio {
    /// Stores `bytes` and returns its id.
    pub fn put(&mut self, bytes: Bytes, content_type: &'static str) -> String {
        self.next_id += 1;
        let id = format!("{:08x}{:016x}", self.next_id, rand::random::<u64>());
        if self.order.len() == CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.files.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.files.insert(id.clone(), (bytes, content_type));
        id
    }

    /// Bytes and content type of a stored file.
    pub fn get(&self, id: &str) -> Option<(Bytes, &'static str)> {
        self.files.get(id).cloned()
    }
}
