//! The voice registry: a fixed list of system voices plus cloned/designed
//! voices created at run time.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

/// System voices: (voice_id, voice_name, description).
pub(crate) const SYSTEM_VOICES: &[(&str, &str, &str)] = &[
    ("male-qn-qingse", "青涩青年音色", "Young male, fresh"),
    ("male-qn-jingying", "精英青年音色", "Young male, elite"),
    ("female-shaonv", "少女音色", "Young female"),
    ("female-yujie", "御姐音色", "Mature female"),
    ("presenter_male", "男性主持人", "Male presenter"),
    ("audiobook_male_1", "男性有声书1", "Audiobook male"),
    (
        "Chinese (Mandarin)_News_Anchor",
        "News Anchor",
        "Mandarin news anchor",
    ),
    ("Cantonese_GentleLady", "Gentle Lady", "Cantonese, gentle"),
    (
        "English_expressive_narrator",
        "Expressive Narrator",
        "English narrator",
    ),
    (
        "English_Graceful_Lady",
        "Graceful Lady",
        "English female, graceful",
    ),
    ("English_Trustworth_Man", "Trustworthy Man", "English male"),
    ("Japanese_CalmLady", "Calm Lady", "Japanese female, calm"),
    ("Korean_SweetGirl", "Sweet Girl", "Korean female"),
    (
        "moss_audio_141d8c4c-a6f8-11f0-84c1-0ec6fa858d82",
        "moss 141d8c4c",
        "Preset voice",
    ),
    (
        "moss_audio_a59cd561-ab87-11f0-a74c-2a7a0b4baedc",
        "moss a59cd561",
        "Preset voice",
    ),
    (
        "moss_audio_fdad4786-ab84-11f0-a816-023f15327f7a",
        "moss fdad4786",
        "Preset voice",
    ),
    (
        "moss_audio_4e6eb029-ab89-11f0-a74c-2a7a0b4baedc",
        "moss 4e6eb029",
        "Preset voice",
    ),
];

/// Whether a run-time voice was cloned or designed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VoiceKind {
    Cloning,
    Generation,
}

#[derive(Debug, Clone)]
struct CustomVoice {
    kind: VoiceKind,
    created_time: String,
    /// Cloned voices stay hidden from `get_voice` until first used in T2A.
    active: bool,
}

/// System + custom voices.
#[derive(Debug, Default)]
pub(crate) struct VoiceRegistry {
    custom: HashMap<String, CustomVoice>,
    /// Insertion order, so listings are stable.
    order: Vec<String>,
    /// Deleted ids cannot be reused.
    deleted: HashSet<String>,
}

fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

impl VoiceRegistry {
    /// Whether `id` can be used for synthesis.
    pub fn exists(&self, id: &str) -> bool {
        SYSTEM_VOICES.iter().any(|v| v.0 == id) || self.custom.contains_key(id)
    }

    /// Whether `id` is taken (including deleted ids).
    pub fn taken(&self, id: &str) -> bool {
        self.exists(id) || self.deleted.contains(id)
    }

    /// Adds a custom voice (inactive).
    pub fn add(&mut self, id: &str, kind: VoiceKind) {
        self.custom.insert(
            id.to_owned(),
            CustomVoice {
                kind,
                created_time: today(),
                active: false,
            },
        );
        self.order.push(id.to_owned());
    }

    /// Marks a custom voice as used in synthesis, making it listable.
    pub fn activate(&mut self, id: &str) {
        if let Some(v) = self.custom.get_mut(id) {
            v.active = true;
        }
    }

    /// Deletes a custom voice of `kind`; returns its created_time.
    pub fn delete(&mut self, id: &str, kind: VoiceKind) -> Option<String> {
        if self.custom.get(id).map(|v| v.kind) != Some(kind) {
            return None;
        }
        let v = self.custom.remove(id)?;
        self.order.retain(|x| x != id);
        self.deleted.insert(id.to_owned());
        Some(v.created_time)
    }

    /// System voices in `get_voice` shape.
    pub fn system_json() -> Value {
        Value::Array(
            SYSTEM_VOICES
                .iter()
                .map(|(id, name, desc)| {
                    json!({"voice_id": id, "voice_name": name, "description": [desc], "created_time": "1970-01-01"})
                })
                .collect(),
        )
    }

    /// Active custom voices of `kind` in `get_voice` shape.
    pub fn custom_json(&self, kind: VoiceKind) -> Value {
        Value::Array(
            self.order
                .iter()
                .filter_map(|id| self.custom.get(id).map(|v| (id, v)))
                .filter(|(_, v)| v.kind == kind && v.active)
                .map(|(id, v)| json!({"voice_id": id, "description": [], "created_time": v.created_time}))
                .collect(),
        )
    }
}
