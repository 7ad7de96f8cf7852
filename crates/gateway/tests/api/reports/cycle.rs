//! `GET /admin/usage?period=cycle`: usage per user per billing cycle, the closed cycles from
//! `billing_periods` and the current one from the user's row.

use chrono::{DateTime, Duration, Utc};
use odeadev_tts::store::RefusalCount;
use serde_json::{json, Value};

use super::{open_store, report, row_for};
use crate::direct_sql::{run_sql, SqlArg};
use crate::helpers::*;

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

async fn speak(app: &TestApp, key: &str, times: usize) {
    for _ in 0..times {
        let r = app
            .post_tts(
                key,
                &json!({"text": "A line for this cycle.", "voice_name": "marcus"}),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
}

/// Moves a user's current cycle to start at `start` (writes the row directly).
async fn move_cycle(app: &TestApp, user_id: i64, start: DateTime<Utc>, end: DateTime<Utc>) {
    let sql = "UPDATE users SET cycle_started_at = $1, cycle_ends_at = $2 WHERE id = $3";
    let args = [SqlArg::Time(start), SqlArg::Time(end), SqlArg::Int(user_id)];
    run_sql(&app.database_url, sql, &args).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_report_by_cycle_splits_closed_and_current_cycles() {
    let app = spawn_app().await;
    let (id, key) = app.create_user("pro").await;
    let (other, other_key) = app.create_user("basic").await;
    speak(&app, &key, 2).await;
    speak(&app, &other_key, 1).await;
    let r = app
        .post(
            &format!("/admin/users/{id}/cycle/reset"),
            &app.admin_key,
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await.unwrap();
    speak(&app, &key, 3).await;

    let r = app
        .get(
            &format!("/admin/users/{id}/billing-periods"),
            &app.admin_key,
        )
        .await;
    assert_eq!(r.status(), 200);
    let closed: Value = r.json().await.unwrap();
    let closed = closed["data"].as_array().unwrap().clone();
    assert_eq!(closed.len(), 1);

    let rows = report(&app, &format!("?period=cycle&user_id={id}")).await;
    assert_eq!(
        rows.len(),
        2,
        "the closed cycle and the current one: {rows:?}"
    );
    let (old, new) = (&rows[0], &rows[1]);
    assert_eq!(time(&old["period_start"]), time(&closed[0]["period_start"]));
    assert_eq!(time(&old["period_end"]), time(&closed[0]["period_end"]));
    assert_eq!(old["requests"]["success"], 2);
    assert_eq!(old["total_requests"], 2);
    assert_eq!(time(&new["period_start"]), time(&user["cycle_started_at"]));
    assert_eq!(time(&new["period_end"]), time(&user["cycle_resets_at"]));
    assert_eq!(new["requests"]["success"], 3);
    assert_eq!(new["total_requests"], 3);
    assert_eq!(time(&old["period_end"]), time(&new["period_start"]));

    // The other user never closed a cycle: one row, their current cycle.
    let all = report(&app, "?period=cycle").await;
    let other_row = row_for(&all, other);
    let me = app.me(&other_key).await;
    assert_eq!(
        time(&other_row["period_start"]),
        time(&me["cycle_started_at"])
    );
    assert_eq!(time(&other_row["period_end"]), time(&me["cycle_resets_at"]));
    assert_eq!(other_row["total_requests"], 1);
    assert_eq!(all.len(), 3);

    // CSV carries the same cycles.
    let r = app
        .get(
            &format!("/admin/usage?period=cycle&user_id={id}&format=csv"),
            &app.admin_key,
        )
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_report_by_cycle_puts_records_outside_every_cycle_under_their_day() {
    let app = spawn_app().await;
    let store = open_store(&app.database_url).await;
    let (id, _key) = app.create_user("pro").await;
    // A current cycle that starts tomorrow and no closed one: today's records fit no cycle.
    let start = Utc::now() + Duration::days(1);
    move_cycle(&app, id, start, start + Duration::days(30)).await;
    store
        .count_refusals(&[RefusalCount::rate_limited(id, Utc::now(), 1)])
        .await
        .unwrap();
    let rows = report(&app, &format!("?period=cycle&user_id={id}")).await;
    assert_eq!(rows.len(), 1, "kept, not dropped: {rows:?}");
    let today = Utc::now().date_naive();
    assert_eq!(rows[0]["period_start"], format!("{today}T00:00:00Z"));
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(rows[0]["period_end"], format!("{tomorrow}T00:00:00Z"));
    assert_eq!(rows[0]["requests"]["rate_limited"], 1);
}
