//! Every bound of every request field, put into the API document from the same constants and
//! patterns the validators apply, so that the document and the code cannot drift apart: what
//! the document calls valid is accepted, what it calls invalid is refused. The few rules a
//! schema cannot state (a pause marker's bounds, an expiry in the future, `to` after `from`,
//! a voice name that exists) are said in the fields' descriptions.

use odeadev_audio::{AudioFormat, SUPPORTED_BITRATES, SUPPORTED_SAMPLE_RATES};
use serde_json::{json, Value};

use super::merge;
use crate::domain::identity::{
    email_pattern, printable_pattern, MAX_DISPLAY_NAME, MAX_EMAIL, MAX_KEY_DAYS, MAX_KEY_NAME,
};
use crate::domain::openai::OPENAI_MODELS;
use crate::domain::options::{Emotion, Model, LANGUAGE_BOOSTS, LANGUAGE_PATTERN};
use crate::domain::overrides::{MAX_SECONDS, MAX_STREAMS};
use crate::domain::plan::Plan;
use crate::domain::rate::MAX_PER_MINUTE;
use crate::domain::text::{text_pattern, MAX_TEXT_CHARS};
use crate::domain::unicode::CONTROL;
use crate::domain::voice::{
    engine_voice_id_pattern, CLONE_VOICE_ID_PATTERN, FRIENDLY_NAME_PATTERN, MAX_DESCRIPTION,
    MAX_ENGINE_VOICE_ID,
};
use crate::http::routes::openai::{OPENAI_SPEED, RESPONSE_FORMATS, STREAM_FORMATS};
use crate::http::routes::tts::{MAX_VOLUME, PITCH, SPEED};
use crate::http::routes::MAX_PAGE;
use crate::service::admin::MAX_AUDIT_FILTER;
use crate::store::reports::ReportPeriod;

/// Text without NUL, which every text field refuses (`json.rs`: PostgreSQL cannot hold it).
const NO_NUL: &str = "^[^\\u0000]*$";

/// `values`, or `null` (an absent field), as an `enum`.
fn nullable_enum<T: serde::Serialize>(values: impl IntoIterator<Item = T>) -> Value {
    let mut values: Vec<Value> = values.into_iter().map(|v| json!(v)).collect();
    values.push(Value::Null);
    json!({ "enum": values })
}

/// A field of the component schema `schema`.
fn field(schema: &str, name: &str) -> String {
    format!("/components/schemas/{schema}/properties/{name}")
}

/// The bounds of fields of request bodies, by JSON pointer.
fn field_rules() -> Vec<(String, Value)> {
    let text = json!({"minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": text_pattern()});
    let no_nul = json!({ "pattern": NO_NUL });
    let name =
        |max: usize| json!({"minLength": 1, "maxLength": max, "pattern": printable_pattern()});
    let seconds = json!({"minimum": 0, "maximum": MAX_SECONDS});
    let friendly_name = json!({ "pattern": FRIENDLY_NAME_PATTERN });
    let language = json!({ "pattern": LANGUAGE_PATTERN });
    let description = json!({"maxLength": MAX_DESCRIPTION, "pattern": NO_NUL});
    let openai_models = OPENAI_MODELS
        .iter()
        .map(|(name, _)| *name)
        .chain(Model::ALL.iter().map(|m| m.as_str()));
    vec![
        (field("TtsRequest", "text"), text.clone()),
        (field("TtsRequest", "voice_name"), no_nul.clone()),
        (field("TtsRequest", "voice_id"), no_nul.clone()),
        (
            field("TtsRequest", "speed"),
            json!({"minimum": SPEED.0, "maximum": SPEED.1}),
        ),
        (
            field("TtsRequest", "pitch"),
            json!({"minimum": PITCH.0, "maximum": PITCH.1}),
        ),
        (
            field("TtsRequest", "volume"),
            json!({"exclusiveMinimum": 0, "maximum": MAX_VOLUME}),
        ),
        (
            field("TtsRequest", "format"),
            nullable_enum(AudioFormat::ALL.map(AudioFormat::as_str)),
        ),
        (
            field("TtsRequest", "sample_rate"),
            nullable_enum(SUPPORTED_SAMPLE_RATES),
        ),
        (
            field("TtsRequest", "bitrate"),
            nullable_enum(SUPPORTED_BITRATES),
        ),
        (
            field("TtsRequest", "language_boost"),
            nullable_enum(LANGUAGE_BOOSTS.iter().copied()),
        ),
        (
            field("SpeechRequest", "model"),
            json!({ "enum": openai_models.collect::<Vec<_>>() }),
        ),
        (field("SpeechRequest", "input"), text),
        (field("SpeechRequest", "instructions"), no_nul.clone()),
        (
            field("SpeechRequest", "response_format"),
            nullable_enum(RESPONSE_FORMATS),
        ),
        (
            field("SpeechRequest", "speed"),
            json!({"minimum": OPENAI_SPEED.0, "maximum": OPENAI_SPEED.1}),
        ),
        (
            field("SpeechRequest", "stream_format"),
            nullable_enum(STREAM_FORMATS),
        ),
        (
            "/components/schemas/VoiceParam/oneOf/0".into(),
            no_nul.clone(),
        ),
        (
            "/components/schemas/VoiceParam/oneOf/1/properties/id".into(),
            no_nul.clone(),
        ),
        (field("CreateUserRequest", "name"), name(MAX_DISPLAY_NAME)),
        (
            field("CreateUserRequest", "email"),
            json!({"maxLength": MAX_EMAIL, "pattern": email_pattern()}),
        ),
        (field("PatchUserRequest", "name"), name(MAX_DISPLAY_NAME)),
        (field("PatchUserRequest", "quota_seconds"), seconds.clone()),
        (
            field("PatchUserRequest", "rpm_limit"),
            json!({"minimum": 1, "maximum": MAX_PER_MINUTE}),
        ),
        (
            field("PatchUserRequest", "max_streams"),
            json!({"minimum": 1, "maximum": MAX_STREAMS}),
        ),
        (field("QuotaRequest", "quota_seconds"), seconds.clone()),
        (field("QuotaRequest", "used_seconds"), seconds),
        (field("CreateKeyRequest", "name"), name(MAX_KEY_NAME)),
        (
            field("CreateKeyRequest", "expires_in_days"),
            json!({"minimum": 1, "maximum": MAX_KEY_DAYS}),
        ),
        (
            field("CreateVoiceRequest", "friendly_name"),
            friendly_name.clone(),
        ),
        (
            field("CreateVoiceRequest", "minimax_voice_id"),
            json!({"minLength": 1, "maxLength": MAX_ENGINE_VOICE_ID, "pattern": engine_voice_id_pattern()}),
        ),
        (field("CreateVoiceRequest", "language"), language.clone()),
        (
            field("CreateVoiceRequest", "description"),
            description.clone(),
        ),
        (field("CloneVoiceForm", "friendly_name"), friendly_name),
        (field("CloneVoiceForm", "language"), language),
        (field("CloneVoiceForm", "description"), description),
        (
            field("CloneVoiceForm", "voice_id"),
            json!({ "pattern": CLONE_VOICE_ID_PATTERN }),
        ),
    ]
}

/// Rules across the fields of one body, by JSON pointer of its schema.
fn object_rules() -> Vec<(String, Value)> {
    let speech_26: Vec<&str> = Model::ALL
        .iter()
        .filter(|m| Emotion::Fluent.allowed_with(**m))
        .map(|m| m.as_str())
        .collect();
    let only_26: Vec<&str> = Emotion::ALL
        .iter()
        .filter(|e| !e.allowed_with(Model::Speech02Turbo))
        .map(|e| e.as_str())
        .collect();
    let both = |a: &str, a_type: &str, b: &str, b_type: &str| {
        json!({"not": {
            "required": [a, b],
            "properties": {a: {"type": a_type}, b: {"type": b_type}},
        }})
    };
    let mut tts = both("voice_name", "string", "voice_id", "string");
    if let Value::Object(map) = &mut tts {
        map.insert(
            "if".into(),
            json!({"required": ["emotion"], "properties": {"emotion": {"enum": only_26}}}),
        );
        map.insert(
            "then".into(),
            json!({"required": ["model"], "properties": {"model": {"enum": speech_26}}}),
        );
    }
    vec![
        ("/components/schemas/TtsRequest".into(), tts),
        (
            "/components/schemas/CreateKeyRequest".into(),
            both("expires_at", "string", "expires_in_days", "number"),
        ),
    ]
}

/// The bounds of query and path parameters: (path, parameter, keywords).
fn parameter_rules() -> Vec<(&'static str, &'static str, Value)> {
    let paged = [
        "/admin/users",
        "/admin/audit",
        "/v1/usage",
        "/admin/users/{id}/billing-periods",
    ];
    let mut rules = Vec::new();
    for path in paged {
        rules.push((path, "limit", json!({"minimum": 1, "maximum": MAX_PAGE})));
        rules.push((path, "offset", json!({ "minimum": 0 })));
    }
    for path in ["/v1/voices", "/v1/voices/list", "/admin/voices"] {
        rules.push((path, "language", json!({ "pattern": LANGUAGE_PATTERN })));
    }
    let filter = json!({"minLength": 1, "maxLength": MAX_AUDIT_FILTER, "pattern": format!("^[^{CONTROL}]+$")});
    for name in ["action", "target_type", "target_id"] {
        rules.push(("/admin/audit", name, filter.clone()));
    }
    let instant = json!({"anyOf": [{"format": "date-time"}, {"format": "date"}]});
    let periods: Vec<&str> = ReportPeriod::ALL.iter().map(|p| p.as_str()).collect();
    let plans: Vec<&str> = Plan::ALL.iter().map(|p| p.as_str()).collect();
    rules.extend([
        ("/admin/usage", "period", json!({ "enum": periods })),
        ("/admin/usage", "plan", json!({ "enum": plans })),
        ("/admin/usage", "user_id", json!({ "minimum": 1 })),
        ("/admin/usage", "from", instant.clone()),
        ("/admin/usage", "to", instant),
        ("/admin/usage", "format", json!({"enum": ["json", "csv"]})),
    ]);
    rules
}

/// `/v2/tts` streams, so it takes every format of `TtsRequest` but `wav`.
fn stream_body() -> Value {
    json!({"allOf": [
        {"$ref": "#/components/schemas/TtsRequest"},
        {"properties": {"format": {"not": {"const": AudioFormat::Wav.as_str()}}}},
    ]})
}

/// The request bodies, whose fields' values and names hold no NUL even where unknown (the
/// body parser refuses NUL anywhere in a body).
const BODIES: [&str; 7] = [
    "TtsRequest",
    "SpeechRequest",
    "CreateUserRequest",
    "PatchUserRequest",
    "QuotaRequest",
    "CreateKeyRequest",
    "CreateVoiceRequest",
];

/// Any JSON value without NUL in a text or a name, for the fields a body does not name.
fn nul_free() -> Value {
    let this = json!({"$ref": "#/components/schemas/NulFree"});
    json!({"anyOf": [
        {"type": ["null", "boolean", "number"]},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": this},
        {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": this},
    ]})
}

/// Says of every body that the names and values of fields it does not know hold no NUL
/// either (bodies that refuse unknown fields already say `additionalProperties: false`).
fn unknown_fields(document: &mut Value, missed: &mut Vec<String>) {
    if let Some(Value::Object(schemas)) = document.pointer_mut("/components/schemas") {
        schemas.insert("NulFree".into(), nul_free());
    }
    for body in BODIES {
        let pointer = format!("/components/schemas/{body}");
        let Some(Value::Object(schema)) = document.pointer_mut(&pointer) else {
            missed.push(pointer);
            continue;
        };
        schema.insert("propertyNames".into(), json!({ "pattern": NO_NUL }));
        schema
            .entry("additionalProperties")
            .or_insert_with(|| json!({"$ref": "#/components/schemas/NulFree"}));
    }
}

/// Puts every rule into `document`; returns the pointers of the rules that found no schema.
pub fn apply(document: &mut Value) -> Vec<String> {
    let mut missed = Vec::new();
    unknown_fields(document, &mut missed);
    for (pointer, keywords) in field_rules().into_iter().chain(object_rules()) {
        if !merge(document, &pointer, keywords) {
            missed.push(pointer);
        }
    }
    for (path, name, keywords) in parameter_rules() {
        if !merge_parameter(document, path, name, keywords) {
            missed.push(format!("{path} ?{name}"));
        }
    }
    let body = "/paths/~1v2~1tts/post/requestBody/content/application~1json/schema";
    match document.pointer_mut(body) {
        Some(schema) => *schema = stream_body(),
        None => missed.push(body.into()),
    }
    missed
}

/// Adds `keywords` to the schema of parameter `name` of every operation on `path`.
fn merge_parameter(document: &mut Value, path: &str, name: &str, keywords: Value) -> bool {
    let mut found = false;
    for (at, _, operation) in super::operations(document) {
        if at != path {
            continue;
        }
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            if parameter.get("name").and_then(Value::as_str) == Some(name) {
                if let Some(Value::Object(schema)) = parameter.get_mut("schema") {
                    if let Value::Object(keywords) = keywords.clone() {
                        schema.extend(keywords);
                        found = true;
                    }
                }
            }
        }
    }
    found
}
