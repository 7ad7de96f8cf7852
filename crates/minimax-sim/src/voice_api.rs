//! `POST /v1/voice_clone`, `/v1/get_voice` and `/v1/delete_voice` (doc §6).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use odeadev_audio::AudioFormat;
use serde_json::{json, Map, Value};

use crate::audio_cache::AudioKey;
use crate::responses::{business_error, invalid, success};
use crate::state::{lock, SimState};
use crate::t2a_validate::MODELS;
use crate::trace::TraceId;
use crate::voices::{VoiceKind, VoiceRegistry};

/// Parses the JSON body after the auth check, or returns the business error.
fn prelude(
    state: &SimState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &Bytes,
) -> Result<Map<String, Value>, (i64, String)> {
    crate::auth::check(&state.config, headers, query).map_err(|(c, m)| (c, m.to_owned()))?;
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err((2013, "invalid params, request body".to_owned())),
    }
}

/// The documented voice_id rule: 8–256 chars, starts with a letter,
/// `[A-Za-z0-9_-]`, not ending in `-` or `_`.
fn valid_voice_id(id: &str) -> bool {
    let len_ok = (8..=256).contains(&id.len());
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let chars_ok = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let last_ok = !id.ends_with('-') && !id.ends_with('_');
    len_ok && first_ok && chars_ok && last_ok
}

/// A file id given as a JSON number or numeric string.
fn file_id(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `POST /v1/voice_clone`.
pub(crate) async fn voice_clone(
    State(state): State<Arc<SimState>>,
    Extension(TraceId(trace)): Extension<TraceId>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let req = match prelude(&state, &headers, query.as_deref(), &body) {
        Ok(r) => r,
        Err((code, msg)) => return business_error(&trace, code, &msg),
    };
    let Some(fid) = file_id(req.get("file_id")) else {
        return invalid(&trace, "file_id");
    };
    let Some(voice_id) = req.get("voice_id").and_then(Value::as_str) else {
        return invalid(&trace, "voice_id");
    };
    if !valid_voice_id(voice_id) {
        return invalid(&trace, "voice_id");
    }
    let text = req
        .get("text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let model = req.get("model").and_then(Value::as_str);
    if let Some(t) = text {
        if t.chars().count() > 1000 {
            return invalid(&trace, "text");
        }
        if !model.is_some_and(|m| MODELS.contains(&m)) {
            return invalid(&trace, "model");
        }
    }
    {
        let files = lock(&state.files);
        if files.get(fid).is_none_or(|f| f.purpose != "voice_clone") {
            return business_error(&trace, 20132, "invalid samples or voice_id");
        }
        if let Some(prompt) = req.get("clone_prompt").and_then(Value::as_object) {
            let pid = file_id(prompt.get("prompt_audio"));
            if pid
                .and_then(|p| files.get(p))
                .is_none_or(|f| f.purpose != "prompt_audio")
            {
                return business_error(&trace, 20132, "invalid samples or voice_id");
            }
        }
    }
    {
        let mut voices = lock(&state.voices);
        if voices.taken(voice_id) {
            return business_error(&trace, 2039, "voice clone voice id duplicate");
        }
        voices.add(voice_id, VoiceKind::Cloning);
    }
    let mut demo_audio = String::new();
    if let Some(t) = text {
        // Preview audio does not activate the voice (doc §6.2).
        let key = AudioKey {
            format: AudioFormat::Mp3,
            sample_rate: 32_000,
            bitrate: 128_000,
            duration_ms: (u64::from(state.config.ms_per_char) * t.chars().count() as u64).max(100),
            seed: crate::text::seed(t),
        };
        if let Ok(audio) = state.cache.get_or_encode(key).await {
            let id = lock(&state.hosted).put(audio.bytes.clone(), AudioFormat::Mp3.content_type());
            demo_audio = format!("{}/_sim/audio/{id}", state.base_url);
        }
    }
    let mut out = Map::new();
    out.insert("input_sensitive".to_owned(), json!(false));
    out.insert("input_sensitive_type".to_owned(), json!(0));
    out.insert("demo_audio".to_owned(), json!(demo_audio));
    success(&trace, out)
}

/// `POST /v1/get_voice`.
pub(crate) async fn get_voice(
    State(state): State<Arc<SimState>>,
    Extension(TraceId(trace)): Extension<TraceId>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let req = match prelude(&state, &headers, query.as_deref(), &body) {
        Ok(r) => r,
        Err((code, msg)) => return business_error(&trace, code, &msg),
    };
    let kind = req.get("voice_type").and_then(Value::as_str).unwrap_or("");
    let (sys, clone, generation) = match kind {
        "system" => (true, false, false),
        "voice_cloning" => (false, true, false),
        "voice_generation" => (false, false, true),
        "all" => (true, true, true),
        _ => return invalid(&trace, "voice_type"),
    };
    let voices = lock(&state.voices);
    let mut out = Map::new();
    let pick = |on: bool, v: Value| if on { v } else { Value::Null };
    out.insert(
        "system_voice".to_owned(),
        pick(sys, VoiceRegistry::system_json()),
    );
    out.insert(
        "voice_cloning".to_owned(),
        pick(clone, voices.custom_json(VoiceKind::Cloning)),
    );
    out.insert(
        "voice_generation".to_owned(),
        pick(generation, voices.custom_json(VoiceKind::Generation)),
    );
    drop(voices);
    success(&trace, out)
}

/// `POST /v1/delete_voice`.
pub(crate) async fn delete_voice(
    State(state): State<Arc<SimState>>,
    Extension(TraceId(trace)): Extension<TraceId>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let req = match prelude(&state, &headers, query.as_deref(), &body) {
        Ok(r) => r,
        Err((code, msg)) => return business_error(&trace, code, &msg),
    };
    let kind = match req.get("voice_type").and_then(Value::as_str) {
        Some("voice_cloning") => VoiceKind::Cloning,
        Some("voice_generation") => VoiceKind::Generation,
        _ => return invalid(&trace, "voice_type"),
    };
    let Some(voice_id) = req.get("voice_id").and_then(Value::as_str) else {
        return invalid(&trace, "voice_id");
    };
    let Some(created) = lock(&state.voices).delete(voice_id, kind) else {
        return invalid(&trace, "voice_id");
    };
    let mut out = Map::new();
    out.insert("voice_id".to_owned(), json!(voice_id));
    out.insert("created_time".to_owned(), json!(created));
    success(&trace, out)
}

#[cfg(test)]
mod tests {
    use super::valid_voice_id;

    #[test]
    fn voice_id_rule() {
        assert!(valid_voice_id("MiniMax001"));
        assert!(valid_voice_id("a-b_c-d1"));
        assert!(!valid_voice_id("short1"));
        assert!(!valid_voice_id("1abcdefgh"));
        assert!(!valid_voice_id("abcdefgh_"));
        assert!(!valid_voice_id("abcdefgh-"));
        assert!(!valid_voice_id("abc defgh"));
    }
}
