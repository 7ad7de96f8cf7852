//! A flood of requests past the rate limit costs nothing durable: each refusal adds to a
//! count kept per user and hour, and only admitted requests get a usage record.

use futures::StreamExt;
use serde_json::json;

use crate::direct_sql::{select_int, SqlArg};
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_past_the_rate_limit_writes_counts_not_records() {
    let app = spawn_app().await;
    let (user_id, key) = app.create_user("free").await;
    let sent = 600;
    let statuses: Vec<u16> = futures::stream::iter(0..sent)
        .map(|_| async {
            app.post_tts(&key, &json!({"text": "Hi", "voice_name": "marcus"}))
                .await
                .status()
                .as_u16()
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let ok = statuses.iter().filter(|s| **s == 200).count() as i64;
    let refused = statuses.iter().filter(|s| **s == 429).count() as i64;
    assert_eq!(ok + refused, sent, "only 200s and 429s: {statuses:?}");
    assert!(
        (1..=10).contains(&ok),
        "the free plan admits 10 a minute, not {ok}"
    );

    let stats = app.stats_when(&key, "rate_limited_requests", refused).await;
    assert_eq!(stats["total_requests"], sent);
    let user = [SqlArg::Int(user_id)];
    let records = select_int(
        &app.database_url,
        "SELECT COUNT(*) FROM usage_records WHERE user_id = $1",
        &user,
    )
    .await;
    assert_eq!(
        records, ok,
        "a record per admitted request, none per refusal"
    );
    let count_rows = select_int(
        &app.database_url,
        "SELECT COUNT(*) FROM usage_refusals WHERE user_id = $1",
        &user,
    )
    .await;
    assert!(
        (1..=2).contains(&count_rows),
        "one row per hour the flood touched, not {count_rows}"
    );
}
