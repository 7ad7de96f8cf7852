//! Every status each operation can answer, added to the API document beside those its
//! annotation names (which keep their own, more specific, descriptions). Each status comes
//! from a layer every request of a kind passes through, so it is added by kind: an
//! authenticated operation can be refused by the key check, a JSON body by the body parser,
//! a parameter by its validation, speech by its engine.

use serde_json::{json, Map, Value};

/// Operations that speak, through the metered synthesis path.
const SYNTHESIS: [&str; 3] = ["/v1/tts", "/v2/tts", "/v1/audio/speech"];

/// Operations answering in OpenAI's error shape, where a broken rule is 400, never 422.
const OPENAI: [&str; 2] = ["/v1/audio/speech", "/v1/models"];

/// What every authenticated operation can answer.
const AUTHENTICATED: &[(u16, &str)] = &[
    (401, "Missing, malformed, unknown, revoked or expired API key"),
    (403, "Inactive user, or (admin routes) not an admin"),
    (429, "Too many failed authentications from this address, or a rate limit; `Retry-After` says when to retry"),
    (500, "A bug; the text is fixed and the cause is logged under the request id"),
    (503, "The database, or the limits backend failing closed, is unavailable (`service_unavailable`)"),
];

/// What every operation with a JSON or form body can answer.
const BODY: &[(u16, &str)] = &[
    (400, "Malformed body"),
    (408, "The body took too long to arrive"),
    (413, "Body too large"),
    (415, "The body is not of the media type the operation takes"),
    (422, "A field broke a rule; `detail` names it"),
];

/// What every operation with parameters can answer.
const PARAMETERS: &[(u16, &str)] = &[(422, "A parameter broke a rule; `detail` names it")];

/// What an operation on a resource named in its path can answer.
const RESOURCE: &[(u16, &str)] = &[(404, "No such resource")];

/// What speech can answer besides the rest (nothing is charged for any of them).
const SPEECH: &[(u16, &str)] = &[
    (404, "Unknown voice"),
    (429, "The quota cannot cover the estimate, or a rate or concurrency limit; `Retry-After` and `RateLimit-*` headers"),
    (502, "The engine failed (nothing charged)"),
    (503, "The voice's engine, the database or the limits backend is unavailable, or the local engine is busy (`engine_busy`, `Retry-After`); nothing charged"),
    (504, "The engine did not answer in time (nothing charged)"),
];

/// Adds the missing statuses to every operation of `document`.
pub fn apply(document: &mut Value) {
    for (path, _, operation) in super::operations(document) {
        let openai = OPENAI.contains(&path.as_str());
        let mut statuses: Vec<(u16, &str)> = Vec::new();
        let secured = operation
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| !s.is_empty());
        if secured {
            statuses.extend(AUTHENTICATED);
        }
        if operation.get("requestBody").is_some() {
            statuses.extend(BODY);
        }
        let parameters = operation.get("parameters").and_then(Value::as_array);
        if parameters.is_some_and(|p| !p.is_empty()) {
            statuses.extend(PARAMETERS);
        }
        let in_path = parameters
            .into_iter()
            .flatten()
            .any(|p| p.get("in").and_then(Value::as_str) == Some("path"));
        if in_path {
            statuses.extend(RESOURCE);
        }
        if SYNTHESIS.contains(&path.as_str()) {
            statuses.extend(SPEECH);
        }
        let body = if openai {
            "OpenAiErrorBody"
        } else {
            "ErrorBody"
        };
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (status, description) in statuses {
            let status = if openai && status == 422 { 400 } else { status };
            add(responses, status, description, body);
        }
    }
}

/// Adds `status` with an error body of schema `body`, unless it is documented already.
fn add(responses: &mut Map<String, Value>, status: u16, description: &str, body: &str) {
    responses.entry(status.to_string()).or_insert_with(|| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}},
        })
    });
}
