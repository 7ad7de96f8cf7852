//! What a JSON body and a query string must be before the handlers see them, and how a
//! refusal is worded: in the API's terms (an integer, an object), never a Rust type's name,
//! with the field it concerns.
//!
//! Refused everywhere, whatever the route: a body that is not `Content-Type:
//! application/json` (415), a top-level value that is not an object (422), and text holding a
//! NUL character (422, naming the field), which PostgreSQL cannot store and SQLite would cut.

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// What a refused text holds.
const NUL_MESSAGE: &str = "must not contain NUL characters (\\u0000)";

/// Whether the request says its body is JSON (`application/json`, or `application/*+json`,
/// parameters such as `charset` allowed).
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The refusal of a body that is not declared JSON.
pub fn not_json() -> ApiError {
    ApiError::UnsupportedMediaType(
        "send the body as JSON, with the header Content-Type: application/json".into(),
    )
}

/// Parses a JSON body as `T`: an object, every text free of NUL, fields named in errors.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "request body is empty; send a JSON object".into(),
        ));
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        // Say what it is, if it is JSON at all.
        return Err(match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => ApiError::Validation(format!(
                "the body must be a JSON object, not {}",
                kind(&value)
            )),
            Err(e) => ApiError::BadRequest(format!("malformed JSON body: {e}")),
        });
    }
    // A NUL in a JSON text can only be written as an escape; look for its field only then.
    if memchr::memmem::find(bytes, b"\\u0000").is_some() {
        if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
            if let Some(field) = nul_field(&value, String::new()) {
                return Err(ApiError::field(&field, NUL_MESSAGE));
            }
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(describe)?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))?;
    Ok(value)
}

/// Parses a query string as `T`; values holding NUL are refused naming the parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let pairs = form_urlencoded::parse(query.as_bytes());
    if let Some((name, _)) = pairs
        .clone()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(ApiError::field(&name.replace('\0', "\\u0000"), NUL_MESSAGE));
    }
    let de = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = in_api_words(&e.into_inner().to_string());
        if path == "." {
            ApiError::Validation(format!("query: {message}"))
        } else {
            ApiError::field(&path, message)
        }
    })
}

/// A text field (of a form) that holds NUL, refused naming it.
pub fn check_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::field(field, NUL_MESSAGE));
    }
    Ok(())
}

/// The path of the first text (or object key) in `value` that holds a NUL.
fn nul_field(value: &Value, path: String) -> Option<String> {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(text) if text.contains('\0') => {
            Some(if path.is_empty() { ".".into() } else { path })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_field(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(at(&key.replace('\0', "\\u0000")))
            } else {
                nul_field(item, at(key))
            }
        }),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = in_api_words(&strip_position(&inner));
            match missing_field(&message) {
                Some(field) if path == "." => ApiError::field(field, "is required"),
                _ if path == "." => ApiError::Validation(message),
                _ => ApiError::field(&path, message),
            }
        }
        _ => ApiError::BadRequest(format!("malformed JSON body: {inner}")),
    }
}

/// serde_json appends " at line 1 column 17"; the field name says more.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The field of serde's "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
}

/// A serde message with the Rust types it names said in the API's terms.
pub fn in_api_words(message: &str) -> String {
    let Some((got, expected)) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "))
    else {
        return message.to_string();
    };
    let expected = match expected {
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number of 0 or more",
        "f32" | "f64" => "a number",
        e if e.starts_with("struct ") || e.starts_with("a map") => "an object",
        e if e.starts_with("a sequence") || e.starts_with("tuple") => "an array",
        e if e.starts_with("a valid date") || e.contains("datetime") => {
            "an RFC 3339 date and time (2026-01-31T12:00:00Z)"
        }
        e => e,
    };
    let got = got
        .replace("sequence", "array")
        .replace("map", "object")
        .replace("integer `", "the number `")
        .replace("floating point `", "the number `");
    format!("must be {expected}, not {got}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Quota {
        quota_seconds: Option<f64>,
        used_seconds: Option<f64>,
        voice: Option<String>,
        pitch: Option<i64>,
    }

    fn refused(body: &str) -> String {
        parse_body::<Quota>(body.as_bytes())
            .map(|q| format!("accepted {q:?}"))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn arrays_and_scalars_are_not_objects() {
        assert_eq!(
            refused("[5, 3]"),
            "the body must be a JSON object, not an array"
        );
        assert_eq!(
            refused(" 7"),
            "the body must be a JSON object, not a number"
        );
        assert!(refused("{").starts_with("malformed JSON body"));
    }

    #[test]
    fn nul_is_refused_naming_the_field() {
        assert_eq!(
            refused(r#"{"voice": "a\u0000b"}"#),
            "voice: must not contain NUL characters (\\u0000)"
        );
        assert!(refused(r#"{"voice": "a\\u0000b"}"#).starts_with("accepted"));
        assert!(parse_query::<Quota>("voice=a%00b")
            .unwrap_err()
            .to_string()
            .starts_with("voice: must not contain NUL"));
    }

    #[test]
    fn types_are_named_in_the_apis_words() {
        assert_eq!(
            refused(r#"{"pitch": "high"}"#),
            "pitch: must be an integer, not string \"high\""
        );
        assert_eq!(
            refused(r#"{"voice": [1]}"#),
            "voice: must be a string, not array"
        );
    }
}
