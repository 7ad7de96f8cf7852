//! A short-lived cache of resolved voices: every synthesis request looks its voice up, and
//! voices almost never change. Only voices that were found are kept, so a new voice is
//! usable at once; a changed one is seen within [`VOICE_TTL`] on every node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::records::Voice;

/// How long a resolved voice is reused.
pub const VOICE_TTL: Duration = Duration::from_secs(2);

/// Voices by requested name (`None` = the default voice).
#[derive(Default)]
pub struct VoiceCache {
    entries: Mutex<HashMap<Option<String>, (Voice, Instant)>>,
}

impl VoiceCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Option<String>, (Voice, Instant)>> {
        // A poisoned lock only means a panic elsewhere mid-insert of plain data.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached voice for `name`, if still fresh.
    pub fn get(&self, name: Option<&str>) -> Option<Voice> {
        let key = name.map(str::to_string);
        let entries = self.entries();
        entries
            .get(&key)
            .filter(|(_, at)| at.elapsed() < VOICE_TTL)
            .map(|(voice, _)| voice.clone())
    }

    /// Remembers a resolved voice.
    pub fn put(&self, name: Option<&str>, voice: &Voice) {
        let mut entries = self.entries();
        // Bounded: names come from clients, so never let the map grow without limit.
        if entries.len() >= 1024 {
            entries.retain(|_, (_, at)| at.elapsed() < VOICE_TTL);
            if entries.len() >= 1024 {
                entries.clear();
            }
        }
        entries.insert(name.map(str::to_string), (voice.clone(), Instant::now()));
    }

    /// Drops everything (after this node changed a voice).
    pub fn clear(&self) {
        self.entries().clear();
    }
}
