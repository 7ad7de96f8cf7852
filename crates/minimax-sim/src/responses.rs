//! Response builders shared by the handlers: business errors (always HTTP
//! 200), JSON bodies and the plain-text 404.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// `status_msg` for a MiniMax business error code (doc §5.2).
pub(crate) fn status_msg(code: i64) -> &'static str {
    match code {
        0 => "success",
        1000 => "unknown error",
        1001 => "request timeout",
        1002 => "rate limit",
        1004 => "not authorized",
        1008 => "insufficient balance",
        1013 => "internal service error",
        1024 => "internal error",
        1026 => "input new_sensitive",
        1027 => "output new_sensitive",
        1033 => "system error",
        1039 => "token limit",
        1041 => "conn limit",
        1042 => "invisible character ratio limit",
        1043 => "The asr similarity check failed",
        2013 => "invalid params",
        2037 => "voice duration too short",
        2039 => "voice clone voice id duplicate",
        2048 => "prompt audio too long",
        2049 => "invalid api key",
        2054 => "voice id not exist",
        2056 => "usage limit exceeded",
        20132 => "invalid samples or voice_id",
        _ => "error",
    }
}

/// A JSON body with the right content type.
pub(crate) fn json_body(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// HTTP 200 with `{"<null_key>":null,"trace_id":..,"base_resp":{code,msg}}`.
pub(crate) fn error_with(null_key: &str, trace: &str, code: i64, msg: &str) -> Response {
    let mut body = serde_json::Map::new();
    body.insert(null_key.to_owned(), Value::Null);
    body.insert("trace_id".to_owned(), json!(trace));
    body.insert(
        "base_resp".to_owned(),
        json!({"status_code": code, "status_msg": msg}),
    );
    json_body(StatusCode::OK, Value::Object(body).to_string())
}

/// The usual `{"data":null,...}` business error.
pub(crate) fn business_error(trace: &str, code: i64, msg: &str) -> Response {
    error_with("data", trace, code, msg)
}

/// `2013 invalid params, <field>`.
pub(crate) fn invalid(trace: &str, field: &str) -> Response {
    business_error(trace, 2013, &format!("invalid params, {field}"))
}

/// A successful JSON object: adds `trace_id` and `base_resp {0, success}`.
pub(crate) fn success(trace: &str, mut body: serde_json::Map<String, Value>) -> Response {
    body.insert("trace_id".to_owned(), json!(trace));
    body.insert(
        "base_resp".to_owned(),
        json!({"status_code": 0, "status_msg": "success"}),
    );
    json_body(StatusCode::OK, Value::Object(body).to_string())
}

/// MiniMax's (Go-style) answer for unknown paths and wrong methods.
pub(crate) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found",
    )
        .into_response()
}
