//! `GET /admin/usage`: per-user, per-period usage as JSON or CSV, streamed; (in `cycle`) per
//! billing cycle; and (in `cli`) the `export-usage` and `backup` commands.

mod cli;
mod cycle;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use odeadev_tts::domain::plan::{Plan, Role};
use odeadev_tts::domain::records::UsageStatus;
use odeadev_tts::store::{NewKey, NewUser, RefusalCount, Settlement, Store, UsageContext};
use serde_json::{json, Value};

use crate::helpers::*;

/// Opens the app's own database beside it (a second pool on the same data).
pub async fn open_store(database_url: &str) -> Arc<dyn Store> {
    let env: HashMap<String, String> = [("DATABASE_URL".to_string(), database_url.to_string())]
        .into_iter()
        .collect();
    let settings = odeadev_tts::config::Settings::load(&env, None).unwrap();
    let database = odeadev_tts::startup::open_store(&settings).await.unwrap();
    database.migrate().await.unwrap();
    database.store()
}

/// A usage context for records written straight to the store.
pub fn usage_context(user_id: i64, text_length: i64) -> UsageContext {
    UsageContext {
        id: uuid::Uuid::now_v7().to_string(),
        user_id,
        key_id: None,
        voice_id: None,
        request_id: uuid::Uuid::now_v7().to_string(),
        endpoint: "/v1/tts",
        engine: Some("minimax"),
        model_used: None,
        text_length,
    }
}

/// Creates a user directly in the store (no HTTP round trip); returns its id.
pub async fn store_user(store: &dyn Store, email: &str, plan: Plan) -> i64 {
    let key = NewKey {
        name: "default".into(),
        prefix: "odt_test".into(),
        hash: rand::random::<[u8; 32]>().to_vec(),
        expires_at: None,
    };
    let user = NewUser {
        name: "Customer".into(),
        email: email.into(),
        plan,
        role: Role::User,
    };
    let setup =
        odeadev_tts::domain::audit::AuditEntry::new(None, "test.setup", "user", String::new());
    store.create_user(user, key, setup).await.unwrap().0.id
}

async fn report(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/admin/usage{query}"), &app.admin_key)
        .await;
    assert_eq!(r.status(), 200, "{query}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = r.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

fn row_for(rows: &[Value], user_id: i64) -> &Value {
    rows.iter()
        .find(|r| r["user_id"] == user_id)
        .unwrap_or_else(|| panic!("no row for user {user_id} in {rows:?}"))
}

/// Usage of a known shape: user A (pro) has two successes, one upstream error, one quota
/// refusal, one rate-limit refusal and one cancellation; user B (basic) one success.
async fn known_usage(app: &TestApp) -> (i64, String, i64) {
    let store = open_store(&app.database_url).await;
    let (a, a_key) = app.create_user("pro").await;
    let (b, b_key) = app.create_user("basic").await;
    for text in ["Hello there.", "A second, longer sentence to speak."] {
        let r = app
            .post_tts(&a_key, &json!({"text": text, "voice_name": "marcus"}))
            .await;
        assert_eq!(r.status(), 200);
    }
    let r = app
        .post_tts(
            &b_key,
            &json!({"text": "Basic hello.", "voice_name": "marcus"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.fault(json!({"kind": "business_error", "code": 1000}))
        .await;
    let r = app
        .post_tts(
            &a_key,
            &json!({"text": "This one fails.", "voice_name": "marcus"}),
        )
        .await;
    assert_eq!(r.status(), 502);
    store
        .count_refusals(&[RefusalCount::rate_limited(a, Utc::now(), 1)])
        .await
        .unwrap();
    let cancelled = usage_context(a, 11);
    let lease = Utc::now() + Duration::minutes(5);
    store.reserve(&cancelled, 2_000, lease).await.unwrap();
    let settlement = Settlement {
        status: UsageStatus::Cancelled,
        billed_ms: 500,
        error_code: Some("client_closed".into()),
        error_message: Some("the client went away".into()),
    };
    store.settle(&cancelled.id, settlement).await.unwrap();
    app.set_quota(a, 0.0).await;
    let r = app
        .post_tts(
            &a_key,
            &json!({"text": "Over quota.", "voice_name": "marcus"}),
        )
        .await;
    assert_eq!(r.status(), 429);
    (a, a_key, b)
}

async fn app() -> TestApp {
    spawn_app_with(Options {
        env: vec![("MINIMAX_MAX_RETRIES", "0".into())],
        ..Options::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_report_counts_each_outcome_per_user_and_day() {
    let app = app().await;
    let (a, a_key, b) = known_usage(&app).await;
    let rows = report(&app, "").await;
    assert_eq!(rows.len(), 2, "one row per user with usage today: {rows:?}");
    let row = row_for(&rows, a);
    let expected = json!({"success": 2, "error": 1, "cancelled": 1, "quota_exceeded": 1, "rate_limited": 1, "pending": 0});
    assert_eq!(row["requests"], expected);
    assert_eq!(row["total_requests"], 6);
    assert_eq!(row["plan"], "pro");
    assert!(row["email"].as_str().unwrap().ends_with("@example.com"));
    // Audio and characters agree with the user's own records.
    let own = app.usage(&a_key).await;
    let audio: f64 = own
        .iter()
        .map(|r| r["audio_seconds"].as_f64().unwrap())
        .sum();
    let chars: i64 = own.iter().map(|r| r["text_length"].as_i64().unwrap()).sum();
    assert_eq!(
        own.len(),
        5,
        "a rate-limited request is counted, not listed"
    );
    assert!((row["audio_seconds"].as_f64().unwrap() - audio).abs() < 1e-6);
    assert!(audio > 0.5, "two successes and a cancellation were billed");
    assert_eq!(row["characters"], chars);
    // The period is today's UTC day.
    let today = Utc::now().date_naive();
    assert_eq!(row["period_start"], format!("{today}T00:00:00Z"));
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(row["period_end"], format!("{tomorrow}T00:00:00Z"));
    let row_b = row_for(&rows, b);
    assert_eq!(row_b["requests"]["success"], 1);
    assert_eq!(row_b["total_requests"], 1);
    assert_eq!(row_b["plan"], "basic");
}

async fn csv_rows(response: reqwest::Response) -> Vec<HashMap<String, String>> {
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let text = response.text().await.unwrap();
    assert!(text.starts_with("user_id,email,plan,period_start,period_end,success,error,cancelled,quota_exceeded,rate_limited,pending,total_requests,audio_seconds,characters\r\n"), "{text}");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader.deserialize().map(|r| r.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_report_speaks_csv_by_accept_header_and_by_format_parameter() {
    let app = app().await;
    let (a, _, _) = known_usage(&app).await;
    let json_rows = report(&app, "").await;
    let by_accept = app
        .client
        .get(app.url("/admin/usage"))
        .bearer_auth(&app.admin_key)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    let by_accept = csv_rows(by_accept).await;
    let by_param = csv_rows(app.get("/admin/usage?format=csv", &app.admin_key).await).await;
    assert_eq!(by_accept, by_param);
    assert_eq!(by_param.len(), json_rows.len());
    let a_csv = by_param
        .iter()
        .find(|r| r["user_id"] == a.to_string())
        .unwrap();
    let a_json = row_for(&json_rows, a);
    for status in [
        "success",
        "error",
        "cancelled",
        "quota_exceeded",
        "rate_limited",
    ] {
        assert_eq!(
            a_csv[status],
            a_json["requests"][status].to_string(),
            "{status}"
        );
    }
    assert_eq!(a_csv["total_requests"], "6");
    assert_eq!(a_csv["email"], a_json["email"].as_str().unwrap());
    assert_eq!(
        a_csv["period_start"],
        a_json["period_start"].as_str().unwrap()
    );
    let seconds: f64 = a_csv["audio_seconds"].parse().unwrap();
    assert!((seconds - a_json["audio_seconds"].as_f64().unwrap()).abs() < 1e-6);
    assert_eq!(a_csv["characters"], a_json["characters"].to_string());
    // ?format=json beats an Accept header asking for CSV.
    let r = app
        .client
        .get(app.url("/admin/usage?format=json"))
        .bearer_auth(&app.admin_key)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_report_filters_by_user_plan_and_time_range() {
    let app = app().await;
    let (a, _, b) = known_usage(&app).await;
    let only_a = report(&app, &format!("?user_id={a}")).await;
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0]["user_id"], a);
    let basic = report(&app, "?plan=basic").await;
    assert_eq!(basic.len(), 1);
    assert_eq!(basic[0]["user_id"], b);
    assert!(report(&app, "?plan=free").await.is_empty());
    let hour = |h: i64| {
        (Utc::now() + Duration::hours(h)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let around = format!("?from={}&to={}", hour(-1), hour(1));
    assert_eq!(report(&app, &around).await.len(), 2);
    assert!(report(&app, &format!("?from={}", hour(1))).await.is_empty());
    assert!(report(&app, &format!("?to={}", hour(-1))).await.is_empty());
    // Calendar months start on the 1st, midnight UTC.
    let month = report(&app, "?period=month").await;
    let first = Utc::now().date_naive().format("%Y-%m-01").to_string();
    assert_eq!(
        row_for(&month, a)["period_start"],
        format!("{first}T00:00:00Z")
    );
    assert_eq!(row_for(&month, a)["total_requests"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_report_is_for_admins_only() {
    let app = spawn_app().await;
    let (_, key) = app.create_user("enterprise").await;
    error_body(app.get("/admin/usage", &key).await, 403).await;
    error_body(app.get("/admin/usage?format=csv", &key).await, 403).await;
    let anonymous = app
        .client
        .get(app.url("/admin/usage"))
        .send()
        .await
        .unwrap();
    error_body(anonymous, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_report_rejects_bad_filters_naming_the_field() {
    let app = spawn_app().await;
    for (query, field) in [
        ("period=week", "period"),
        ("period=", "period"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("plan=gold", "plan"),
        ("user_id=abc", "user_id"),
        ("format=xml", "format"),
        ("colour=blue", "colour"),
    ] {
        let r = app
            .get(&format!("/admin/usage?{query}"), &app.admin_key)
            .await;
        let body = error_body(r, 422).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(field), "{query}: {detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_report_streams_thousands_of_records_without_buffering() {
    let app = spawn_app().await;
    let store = open_store(&app.database_url).await;
    let (users, per_user) = (150_i64, 20_i64);
    let mut ids = Vec::new();
    for n in 0..users {
        let plan = if n % 2 == 0 { Plan::Pro } else { Plan::Free };
        ids.push(store_user(store.as_ref(), &format!("bulk{n}@example.com"), plan).await);
    }
    // Quota refusals keep a record each: thousands of rows to aggregate.
    for &id in &ids {
        for _ in 0..per_user {
            let lease = Utc::now() + Duration::minutes(5);
            store
                .reserve(&usage_context(id, 3), i64::MAX / 4, lease)
                .await
                .unwrap();
        }
    }
    let r = app.get("/admin/usage", &app.admin_key).await;
    assert_eq!(r.status(), 200);
    assert!(r.content_length().is_none(), "streamed, not buffered");
    let body: Value = r.json().await.unwrap();
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len() as i64, users);
    let ordered: Vec<i64> = rows
        .iter()
        .map(|r| r["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ordered, ids, "by user");
    for row in rows {
        assert_eq!(row["requests"]["quota_exceeded"], per_user);
        assert_eq!(row["characters"], 3 * per_user);
    }
    let csv = csv_rows(
        app.get("/admin/usage?format=csv&plan=free", &app.admin_key)
            .await,
    )
    .await;
    assert_eq!(csv.len() as i64, users / 2);
    let total: i64 = csv
        .iter()
        .map(|r| r["total_requests"].parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, users / 2 * per_user);
}
