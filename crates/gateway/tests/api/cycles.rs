//! Billing cycles and the audit log over HTTP: the cycle on `/v1/me`, lazy rollover on the
//! next request, admin resets, closed periods, and an audit row for every admin write.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use futures::future::join_all;
use odeadev_tts::domain::cycle::add_months;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::direct_sql::{run_sql, SqlArg};
use crate::helpers::*;

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Moves a user's cycle into the past, as if its month had gone by (writes the row directly).
async fn backdate(app: &TestApp, user_id: i64, anchor: DateTime<Utc>) {
    let sql = "UPDATE users SET cycle_anchor = $1, cycle_started_at = $1, cycle_ends_at = $2 WHERE id = $3";
    let args = [
        SqlArg::Time(anchor),
        SqlArg::Time(add_months(anchor, 1)),
        SqlArg::Int(user_id),
    ];
    run_sql(&app.database_url, sql, &args).await;
}

async fn speak(app: &TestApp, key: &str) {
    let r = app
        .post_tts(
            key,
            &json!({"text": "A short line to bill.", "voice_name": "marcus"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}

async fn periods(app: &TestApp, user_id: i64) -> Vec<Value> {
    let path = format!("/admin/users/{user_id}/billing-periods");
    let r = app.get(&path, &app.admin_key).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_shows_the_current_cycle() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("basic").await;
    let me = app.me(&key).await;
    let created = time(&me["created_at"]);
    assert_eq!(time(&me["cycle_started_at"]), created);
    assert_eq!(time(&me["cycle_resets_at"]), add_months(created, 1));
    assert!(me["cycle_resets_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_cycle_restarts_used_seconds_on_the_next_request_and_keeps_its_totals() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("pro").await;
    speak(&app, &key).await;
    let before = app.me(&key).await["used_seconds"].as_f64().unwrap();
    assert!(before > 0.0);
    let anchor = (Utc::now() - Duration::days(70)).trunc_subsecs(6);
    backdate(&app, id, anchor).await;
    speak(&app, &key).await;
    let me = app.me(&key).await;
    let used = me["used_seconds"].as_f64().unwrap();
    assert!(
        used > 0.0 && used <= before + 0.001,
        "only the new request: {used}"
    );
    assert_eq!(time(&me["cycle_started_at"]), add_months(anchor, 2));
    assert_eq!(time(&me["cycle_resets_at"]), add_months(anchor, 3));
    let closed = periods(&app, id).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["used_seconds"].as_f64().unwrap(), before);
    assert_eq!(closed[0]["requests"], 1);
    assert_eq!(closed[0]["reason"], "rollover");
    assert_eq!(time(&closed[0]["period_start"]), anchor);
    assert_eq!(time(&closed[0]["period_end"]), add_months(anchor, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_at_rollover_roll_over_once() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("enterprise").await;
    speak(&app, &key).await;
    backdate(&app, id, (Utc::now() - Duration::days(40)).trunc_subsecs(6)).await;
    let requests = (0..6).map(|_| speak(&app, &key));
    join_all(requests).await;
    assert_eq!(periods(&app, id).await.len(), 1, "closed exactly once");
    let usage = app.usage(&key).await;
    assert_eq!(usage.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_reset_a_cycle_now_and_keep_the_anchor() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("pro").await;
    speak(&app, &key).await;
    let before = app.me(&key).await;
    let path = format!("/admin/users/{id}/cycle/reset");
    let r = app.post(&path, &app.admin_key, &json!({})).await;
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["used_seconds"], 0.0);
    assert_eq!(user["remaining_seconds"], user["quota_seconds"]);
    let started = time(&user["cycle_started_at"]);
    assert!(started > time(&before["cycle_started_at"]));
    assert!((Utc::now() - started).num_seconds() < 30);
    assert_eq!(user["cycle_resets_at"], before["cycle_resets_at"]);
    let closed = periods(&app, id).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["reason"], "reset");
    assert_eq!(closed[0]["used_seconds"], before["used_seconds"]);
    assert_eq!(closed[0]["period_end"], user["cycle_started_at"]);
    let missing = app
        .post(
            "/admin/users/999999/cycle/reset",
            &app.admin_key,
            &json!({}),
        )
        .await;
    error_body(missing, 404).await;
    let missing = app.get("/admin/users/999999/billing-periods", &app.admin_key);
    error_body(missing.await, 404).await;
}

fn clone_form(name: &str) -> Form {
    let pcm = odeadev_audio::speechlike(12_000, 16_000, 7);
    let wav = odeadev_audio::encode(&pcm, odeadev_audio::AudioFormat::Wav, 128_000).unwrap();
    Form::new()
        .text("friendly_name", name.to_string())
        .text("language", "en-NG")
        .text("gender", "female")
        .part("file", Part::bytes(wav).file_name("sample.wav"))
}

/// Does every admin write; returns the plain keys it saw.
async fn admin_writes(app: &TestApp) -> (i64, String, Vec<String>) {
    let admin = &app.admin_key;
    let body = json!({"name": "Audited", "email": "audited@example.com", "plan": "basic"});
    let r = app.post("/admin/users", admin, &body).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["user"]["id"].as_i64().unwrap();
    let first = created["api_key"].as_str().unwrap().to_string();
    let user = format!("/admin/users/{id}");
    let r = app.patch(&user, admin, &json!({"plan": "pro"})).await;
    assert_eq!(r.status(), 200);
    let quota = json!({"quota_seconds": 90.0});
    assert_eq!(
        app.put(&format!("{user}/quota"), admin, &quota)
            .await
            .status(),
        200
    );
    let r = app
        .post(&format!("{user}/keys"), admin, &json!({"name": "ci"}))
        .await;
    assert_eq!(r.status(), 201);
    let issued: Value = r.json().await.unwrap();
    let second = issued["api_key"].as_str().unwrap().to_string();
    let key_id = issued["key"]["id"].as_str().unwrap().to_string();
    let r = app.delete(&format!("/admin/keys/{key_id}"), admin).await;
    assert_eq!(r.status(), 200);
    let voice = json!({"friendly_name": "audited-voice", "minimax_voice_id": "male-qn-qingse", "language": "en-US", "gender": "male"});
    assert_eq!(app.post("/admin/voices", admin, &voice).await.status(), 201);
    let r = app
        .client
        .post(app.url("/admin/voices/clone"))
        .bearer_auth(admin)
        .multipart(clone_form("audited-clone"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .post(&format!("{user}/cycle/reset"), admin, &json!({}))
        .await;
    assert_eq!(r.status(), 200);
    (id, key_id, vec![first, second])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_write_is_audited_with_actor_and_target_and_no_key_text() {
    let app = spawn_app().await;
    let admin_id = app.me(&app.admin_key).await["id"].as_i64().unwrap();
    let (user_id, key_id, plain_keys) = admin_writes(&app).await;
    let r = app.get("/admin/audit?limit=200", &app.admin_key).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for key in plain_keys.iter().chain([&app.admin_key]) {
        assert!(
            !text.contains(key.as_str()),
            "a key's text reached the audit log"
        );
    }
    let body: Value = serde_json::from_str(&text).unwrap();
    let rows = body["data"].as_array().unwrap();
    // The command line created the admin: audited with no actor.
    let (cli, rows) = rows.split_last().unwrap();
    assert_eq!(
        (&cli["action"], &cli["actor_user_id"]),
        (&json!("user.create"), &Value::Null)
    );
    assert_eq!(cli["target_id"], admin_id.to_string());
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r["actor_user_id"], admin_id, "{r}");
            assert!(r["request_id"].is_string(), "{r}");
            (
                r["action"].as_str().unwrap(),
                r["target_type"].as_str().unwrap(),
                r["target_id"].as_str().unwrap(),
            )
        })
        .collect();
    let user = user_id.to_string();
    for expected in [
        ("user.create", "user", user.as_str()),
        ("user.update", "user", user.as_str()),
        ("user.quota.set", "user", user.as_str()),
        ("key.issue", "api_key", key_id.as_str()),
        ("key.revoke", "api_key", key_id.as_str()),
        ("user.cycle.reset", "user", user.as_str()),
    ] {
        assert!(
            seen.contains(&expected),
            "{expected:?} missing from {seen:?}"
        );
    }
    assert_eq!(seen[0].0, "user.cycle.reset", "newest first");
    let voices: Vec<_> = seen
        .iter()
        .filter(|s| s.1 == "voice")
        .map(|s| s.0)
        .collect();
    assert_eq!(voices, ["voice.clone", "voice.create"]);
    assert_eq!(rows.len(), 8);
    assert_eq!(body["total"], 9);
    // Filters.
    let path = format!("/admin/audit?target_type=api_key&target_id={key_id}");
    let filtered: Value = app.get(&path, &app.admin_key).await.json().await.unwrap();
    let actions: Vec<&str> = filtered["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["key.revoke", "key.issue"]);
    let r = app
        .get("/admin/audit?action=user.update", &app.admin_key)
        .await;
    let one: Value = r.json().await.unwrap();
    assert_eq!(one["total"], 1);
    assert_eq!(one["data"][0]["details"]["plan"], "pro");
    let bad = app.get("/admin/audit?limit=0", &app.admin_key).await;
    error_body(bad, 422).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycle_and_audit_routes_are_for_admins_only() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("enterprise").await;
    let reset = format!("/admin/users/{id}/cycle/reset");
    error_body(app.post(&reset, &key, &json!({})).await, 403).await;
    let periods = format!("/admin/users/{id}/billing-periods");
    error_body(app.get(&periods, &key).await, 403).await;
    error_body(app.get("/admin/audit", &key).await, 403).await;
    let anonymous = app
        .client
        .get(app.url("/admin/audit"))
        .send()
        .await
        .unwrap();
    error_body(anonymous, 401).await;
    // The refused reset changed nothing.
    assert_eq!(app.me(&key).await["used_seconds"], 0.0);
}
