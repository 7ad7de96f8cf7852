//! The API document against the server: every bound the validators apply is in the document,
//! every status an operation can answer is documented, and what the document calls valid is
//! accepted (the fuzz step, `tests/fuzz`, checks the same at random; these pin what it found).

use serde_json::{json, Value};

use crate::helpers::*;

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_each_status_its_layers_can_answer() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let openai = path == "/v1/audio/speech" || path == "/v1/models";
            let mut expected: Vec<&str> = Vec::new();
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                expected.extend(["401", "403", "429", "500", "503"]);
            }
            if op.get("requestBody").is_some() {
                expected.extend(["400", "408", "413", "415"]);
                expected.push(if openai { "400" } else { "422" });
            }
            if ["/v1/tts", "/v2/tts", "/v1/audio/speech"].contains(&path.as_str()) {
                expected.extend(["404", "429", "502", "503", "504"]);
            }
            if path.contains('{') {
                expected.push("404");
            }
            for status in expected {
                let response = &responses.get(status).unwrap_or_else(|| {
                    panic!("{method} {path} does not document {status}");
                });
                if let Some(schema) = response["content"]["application/json"]["schema"].get("$ref")
                {
                    let body = if openai {
                        "OpenAiErrorBody"
                    } else {
                        "ErrorBody"
                    };
                    let schema = schema.as_str().unwrap();
                    assert!(schema.ends_with(body), "{method} {path} {status}: {schema}");
                }
            }
            assert!(
                !(openai && responses.contains_key("422")),
                "{method} {path}: OpenAI's shape answers 400, never 422"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_states_the_bounds_the_validators_apply() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let tts = &schema(&doc, "TtsRequest")["properties"];
    assert_eq!(tts["text"]["maxLength"], 5000);
    assert_eq!(tts["text"]["minLength"], 1);
    assert!(tts["text"]["pattern"]
        .as_str()
        .unwrap()
        .contains("\\p{Alpha}"));
    assert_eq!(tts["speed"]["minimum"], 0.5);
    assert_eq!(tts["speed"]["maximum"], 2.0);
    assert_eq!(tts["pitch"]["minimum"], -12);
    assert_eq!(tts["volume"]["exclusiveMinimum"], 0);
    assert_eq!(
        tts["sample_rate"]["enum"],
        json!([8000, 16000, 22050, 24000, 32000, 44100, null])
    );
    assert!(
        schema(&doc, "TtsRequest")["if"].is_object(),
        "emotions of speech-2.6 only"
    );
    let stream_body =
        &doc["paths"]["/v2/tts"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(
        stream_body["allOf"][1]["properties"]["format"]["not"]["const"],
        "wav"
    );
    let user = &schema(&doc, "CreateUserRequest")["properties"];
    assert_eq!(user["name"]["maxLength"], 200);
    assert_eq!(user["email"]["maxLength"], 254);
    let patch = &schema(&doc, "PatchUserRequest")["properties"];
    assert_eq!(patch["rpm_limit"]["maximum"], 1_000_000);
    assert_eq!(patch["max_streams"]["maximum"], 10_000);
    let voice = &schema(&doc, "CreateVoiceRequest")["properties"];
    assert_eq!(voice["friendly_name"]["pattern"], "^[A-Za-z0-9._-]{1,64}$");
    assert_eq!(voice["language"]["pattern"], "^[a-z]{2}-[A-Z]{2}$");
    let limit = doc["paths"]["/admin/users"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 200);
    assert_eq!(limit["schema"]["minimum"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_written_with_a_zero_fraction_are_taken_as_integers() {
    let app = spawn_app().await;
    let (user_id, key) = app.create_user("pro").await;
    let spoken = app
        .post_tts(
            &key,
            &json!({"text": "Whole numbers.", "pitch": 2.0, "sample_rate": 24000.0, "bitrate": 64000.0}),
        )
        .await;
    assert_eq!(spoken.status(), 200, "{}", spoken.text().await.unwrap());
    let patched = app
        .patch(
            &format!("/admin/users/{user_id}"),
            &app.admin_key,
            &json!({"rpm_limit": 5.0, "max_streams": 2.0}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let user: Value = patched.json().await.unwrap();
    assert_eq!(
        (user["rpm_limit"].clone(), user["max_streams"].clone()),
        (json!(5), json!(2))
    );
    let issued = app
        .post(
            &format!("/admin/users/{user_id}/keys"),
            &app.admin_key,
            &json!({"expires_in_days": 30.0}),
        )
        .await;
    assert_eq!(issued.status(), 201);
    let listed = app
        .get("/admin/users?limit=5.0&offset=0.0", &app.admin_key)
        .await;
    assert_eq!(listed.status(), 200);
    let by_id = app
        .get(&format!("/admin/users/{user_id}.0"), &app.admin_key)
        .await;
    assert_eq!(by_id.status(), 200);
    for (body, field) in [
        (json!({"text": "hi", "pitch": 1.5}), "pitch"),
        (json!({"text": "hi", "sample_rate": "24000"}), "sample_rate"),
        (json!({"text": "hi", "bitrate": 1e300}), "bitrate"),
    ] {
        let e = error_body(app.post_tts(&key, &body).await, 422).await;
        let detail = e["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("{field}: must be an integer")),
            "{detail}"
        );
    }
    let e = error_body(app.get("/admin/users?limit=2.5", &app.admin_key).await, 422).await;
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .starts_with("limit: must be an integer"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lengths_are_counted_as_sent_as_the_document_counts_them() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    // 5,001 characters as sent, 2,501 once NFC composes each accent with its letter.
    let decomposed = format!("{}a", "e\u{301}".repeat(2500));
    let e = error_body(app.post_tts(&key, &json!({"text": decomposed})).await, 422).await;
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .starts_with("text: must be at most 5000"),
        "{e}"
    );
    // A name of 200 characters with a space around it is 202 as sent.
    let padded = format!(" {} ", "n".repeat(200));
    let body = json!({"name": padded, "email": "padded@example.com"});
    let e = error_body(app.post("/admin/users", &app.admin_key, &body).await, 422).await;
    assert!(e["detail"].as_str().unwrap().starts_with("name:"), "{e}");
    let body = json!({"name": " Ada ", "email": "ada@example.com"});
    assert_eq!(
        app.post("/admin/users", &app.admin_key, &body)
            .await
            .status(),
        201
    );
}

/// Found by the fuzz step: a volume the document allows (any number above 0) reached the
/// engine as 0 once made an f32 (5e-324), and the engine refused it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smallest_volume_above_zero_is_spoken() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("pro").await;
    let body =
        json!({"text": "0", "volume": 5e-324, "emotion": "fluent", "model": "speech-2.6-hd"});
    let spoken = app.post_tts(&key, &body).await;
    assert_eq!(spoken.status(), 200, "{}", spoken.text().await.unwrap());
}

/// Found by the fuzz step: an email valid as written was refused when folding (NFKC) turned
/// a character of it into a space and an accent (`´`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_is_judged_as_written_not_as_folded() {
    let app = spawn_app().await;
    let body = json!({"name": "Acute", "email": "p@ex\u{b4}ample.com"});
    let created = app.post("/admin/users", &app.admin_key, &body).await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
}

/// Found by the fuzz step: the audit filters counted their bound in bytes, the document in
/// characters; and unknown body fields holding NUL are refused, as the document says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_are_counted_in_characters_and_unknown_fields_hold_no_nul() {
    let app = spawn_app().await;
    let action = "é".repeat(128);
    let r = app
        .get(&format!("/admin/audit?action={action}"), &app.admin_key)
        .await;
    assert_eq!(r.status(), 200);
    let doc = document(&app).await;
    let quota = schema(&doc, "QuotaRequest");
    assert_eq!(quota["propertyNames"]["pattern"], "^[^\\u0000]*$");
    assert_eq!(
        quota["additionalProperties"]["$ref"],
        "#/components/schemas/NulFree"
    );
    let r = app
        .put(
            "/admin/users/1/quota",
            &app.admin_key,
            &json!({"extra\u{0}": 1}),
        )
        .await;
    error_body(r, 422).await;
}
