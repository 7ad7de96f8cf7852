//! A short-lived cache of resolved voices: every synthesis request looks its voice up, and
//! voices almost never change. Only voices that were found are kept, so a new voice is
//! usable at once; a changed one is seen within [`VOICE_TTL`] on every node.

use std::time::Duration;

use moka::sync::Cache;

use crate::domain::records::Voice;

/// How long a resolved voice is reused.
pub const VOICE_TTL: Duration = Duration::from_secs(2);

/// Voices held at most: names come from clients, so the cache must not grow with them.
const MAX_VOICES: u64 = 1024;

/// Voices by requested name (`None` = the default voice).
pub struct VoiceCache {
    entries: Cache<Option<String>, Voice>,
}

impl Default for VoiceCache {
    fn default() -> Self {
        VoiceCache {
            entries: Cache::builder()
                .max_capacity(MAX_VOICES)
                .time_to_live(VOICE_TTL)
                .build(),
        }
    }
}

impl VoiceCache {
    /// The cached voice for `name`, if still fresh.
    pub fn get(&self, name: Option<&str>) -> Option<Voice> {
        self.entries.get(&name.map(str::to_string))
    }

    /// Remembers a resolved voice.
    pub fn put(&self, name: Option<&str>, voice: &Voice) {
        self.entries.insert(name.map(str::to_string), voice.clone());
    }

    /// Drops everything (after this node changed a voice).
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}
