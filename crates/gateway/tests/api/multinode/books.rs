//! The books a user's load must balance: one record per admitted request, refusals counted,
//! balances, the API's views of them, and the rate limit over the load's window.

#[allow(unused_imports)]
use super::*;

/// A usage record: request id, status, audio ms, error code.
type Row = (String, String, i64, Option<String>);

/// The user's books against what the test sent and got: balances, records, API views, and
/// the rate limit over `window` (since before the user's first synthesis request).
pub(super) async fn check_books(cx: &Cx, user: &User, window: Duration, node: usize) {
    let sent = cx.ledger.lock().unwrap().get(&user.id).cloned().unwrap();
    let refused = sent
        .iter()
        .filter(|(_, o)| o.record_status().is_none())
        .count() as i64;
    let counted =
        crate::helpers::wait_for(Duration::from_secs(10), "the refusal counts", || async {
            let (counted,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(SUM(requests), 0)::BIGINT FROM usage_refusals WHERE user_id = $1",
            )
            .bind(user.id)
            .fetch_one(&cx.pool)
            .await
            .unwrap();
            (counted >= refused).then_some(counted)
        })
        .await;
    assert_eq!(counted, refused, "user {}: refusals counted", user.id);
    let sent_records = sent.len() - refused as usize;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT request_id, status, audio_ms, error_code FROM usage_records WHERE user_id = $1",
    )
    .bind(user.id)
    .fetch_all(&cx.pool)
    .await
    .unwrap();
    assert_eq!(
        rows.len(),
        sent_records,
        "user {}: {} usage records for {sent_records} requests admitted",
        user.id,
        rows.len(),
    );
    let mut by_request: HashMap<&str, Vec<&Row>> = HashMap::new();
    for row in &rows {
        by_request.entry(row.0.as_str()).or_default().push(row);
    }
    let mut billed_ms = 0;
    for (rid, outcome) in &sent {
        let records = by_request.get(rid.as_str()).map_or(&[][..], Vec::as_slice);
        let Some((want_status, want_code)) = outcome.record_status() else {
            assert!(records.is_empty(), "refused request {rid} has a record");
            continue;
        };
        assert_eq!(records.len(), 1, "request {rid} ({outcome:?}): {records:?}");
        let (_, status, audio_ms, error_code) = records[0];
        assert_eq!(
            (status.as_str(), error_code.as_deref()),
            (want_status, want_code),
            "request {rid}"
        );
        match outcome {
            Outcome::Success(billed) => {
                assert_eq!(audio_ms, billed, "request {rid}: billed vs recorded");
                billed_ms += billed;
            }
            _ => assert_eq!(*audio_ms, 0, "request {rid} ({outcome:?}) was billed"),
        }
    }
    let (used_ms, reserved_ms, pending) = cx.balance(user).await;
    assert_eq!(
        (reserved_ms, pending),
        (0, 0),
        "user {}: still reserved",
        user.id
    );
    assert!(
        used_ms <= user.quota_ms,
        "user {}: used {used_ms} ms of a {} ms quota",
        user.id,
        user.quota_ms
    );
    assert_eq!(
        used_ms, billed_ms,
        "user {}: used vs billed in 200s",
        user.id
    );
    let recorded: i64 = rows.iter().map(|r| r.2).sum();
    assert_eq!(used_ms, recorded, "user {}: used vs records", user.id);
    // The API says the same.
    let me = cx.get(node, "/v1/me", &user.key).await;
    assert_eq!(ms(&me["used_seconds"]), used_ms);
    assert_eq!(me["reserved_seconds"], 0.0);
    assert_eq!(ms(&me["quota_seconds"]), user.quota_ms);
    let usage = cx.get(node, "/v1/usage?limit=200", &user.key).await;
    let usage = usage["data"].as_array().unwrap();
    assert_eq!(usage.len(), sent_records);
    let listed: i64 = usage.iter().map(|u| ms(&u["audio_seconds"])).sum();
    assert_eq!(listed, used_ms, "user {}: /v1/usage audio_seconds", user.id);
    let stats = cx.get(node, "/v1/usage/stats", &user.key).await;
    assert_eq!(stats["total_requests"], sent.len() as u64);
    let successes = sent
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Success(_)))
        .count();
    assert_eq!(stats["successful_requests"], successes as u64);
    // GCRA with a burst of one minute: at most rpm at once, then one more per 60/rpm s.
    let admitted = sent.iter().filter(|(_, o)| o.admitted()).count() as u64;
    let allowance =
        u64::from(user.rpm) + (window.as_secs_f64() * f64::from(user.rpm) / 60.0) as u64;
    assert!(
        admitted <= allowance,
        "user {}: {admitted} requests admitted in {window:?} at {} a minute",
        user.id,
        user.rpm
    );
    eprintln!(
        "user {} (rpm {}, streams {}): {} requests, {admitted} admitted (allowance {allowance}), {successes} ok, used {used_ms} of {} ms",
        user.id,
        user.rpm,
        user.max_streams,
        sent.len(),
        user.quota_ms
    );
}
