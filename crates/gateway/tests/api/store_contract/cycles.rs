//! The contract story, continued: billing cycles (rollover by sweep and by reservation, admin
//! resets, closed periods) and the audit log written with each admin change.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use odeadev_tts::domain::audit::{action, target, AuditEntry};
use odeadev_tts::domain::cycle::add_months;
use odeadev_tts::domain::options::Gender;
use odeadev_tts::domain::plan::Plan;
use odeadev_tts::domain::records::UsageStatus;
use odeadev_tts::engine::Provider;
use odeadev_tts::store::*;

use super::story::{audit, new_key, new_user, reserve, settlement, usage};
use super::Fixture;
use crate::direct_sql::{run_sql, SqlArg};

const PAGE: Page = Page {
    offset: 0,
    limit: 50,
};

fn by(admin: i64, action: &'static str, target_type: &'static str) -> AuditEntry {
    AuditEntry::new(Some(admin), action, target_type, "req-contract".into())
}

async fn audit_rows(store: &dyn Store, action: &str, target_id: &str) -> Vec<AuditRecordView> {
    let filter = AuditFilter {
        action: Some(action.into()),
        target_type: None,
        target_id: Some(target_id.into()),
    };
    let (rows, total) = store.list_audit(&filter, PAGE).await.unwrap();
    assert_eq!(rows.len() as i64, total);
    rows.into_iter()
        .map(|r| AuditRecordView {
            actor: r.actor_user_id,
            target_type: r.target_type,
            details: r.details,
        })
        .collect()
}

struct AuditRecordView {
    actor: Option<i64>,
    target_type: String,
    details: serde_json::Value,
}

/// Cycles through the store API alone: `now` is a parameter, so the story can live a few
/// months ahead. Run last: it moves every user's cycle into the future.
pub(super) async fn cycles(store: &dyn Store, admin: i64) {
    let created = by(admin, action::USER_CREATE, target::USER);
    let (carol, _) = store
        .create_user(
            new_user("carol@example.com", Plan::Free),
            new_key(20),
            created,
        )
        .await
        .unwrap();
    let anchor = carol.created_at;
    assert_eq!(
        (
            carol.cycle_anchor,
            carol.cycle_started_at,
            carol.cycle_ends_at
        ),
        (anchor, anchor, add_months(anchor, 1))
    );
    let rows = audit_rows(store, action::USER_CREATE, &carol.id.to_string()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].actor, rows[0].target_type.as_str()),
        (Some(admin), "user")
    );
    // A change that fails writes no audit row either.
    let taken = by(admin, action::USER_CREATE, target::USER);
    let dup = store
        .create_user(new_user("carol@example.com", Plan::Pro), new_key(21), taken)
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict("email"))));
    let (_, all_creates) = store
        .list_audit(
            &AuditFilter {
                action: Some(action::USER_CREATE.into()),
                ..AuditFilter::default()
            },
            PAGE,
        )
        .await
        .unwrap();
    assert_eq!(all_creates, 1);

    // Billed 3 s, 1 s still in flight when the cycle ends.
    let lease = Utc::now() + Duration::minutes(5);
    let billed = usage(carol.id);
    assert!(reserve(store, &billed, 3_000, lease).await);
    store
        .settle(&billed.id, settlement(UsageStatus::Success, 3_000))
        .await
        .unwrap();
    let inflight = usage(carol.id);
    assert!(reserve(store, &inflight, 1_000, lease).await);

    // Two months and an hour later, several nodes sweep at once: one closes the cycle, in
    // one step to the current cycle.
    let later = add_months(anchor, 2) + Duration::hours(1);
    let sweeps = (0..6).map(|_| store.roll_over_cycles(later));
    futures::future::join_all(sweeps)
        .await
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
    assert_eq!(store.roll_over_cycles(later).await.unwrap(), 0);
    let rolled = store.get_user(carol.id).await.unwrap();
    assert_eq!(
        (rolled.used_ms, rolled.reserved_ms),
        (0, 1_000),
        "used restarts; reservations carry over"
    );
    assert_eq!(
        (
            rolled.cycle_started_at,
            rolled.cycle_ends_at,
            rolled.cycle_anchor
        ),
        (add_months(anchor, 2), add_months(anchor, 3), anchor)
    );
    let periods = store.list_billing_periods(carol.id, PAGE).await.unwrap();
    assert_eq!(periods.len(), 1, "closed once");
    let p = &periods[0];
    assert_eq!(
        (
            p.period_start,
            p.period_end,
            p.used_ms,
            p.quota_ms,
            p.requests
        ),
        (anchor, add_months(anchor, 1), 3_000, 600_000, 2)
    );
    assert_eq!(p.reason, "rollover");

    // The request in flight settles into the new cycle.
    store
        .settle(&inflight.id, settlement(UsageStatus::Success, 800))
        .await
        .unwrap();
    let settled = store.get_user(carol.id).await.unwrap();
    assert_eq!((settled.used_ms, settled.reserved_ms), (800, 0));

    // An admin reset closes the cycle at that moment and keeps the anchor.
    let reset_at = later + Duration::days(1);
    let reset = by(admin, action::CYCLE_RESET, target::USER);
    let fresh = store.reset_cycle(carol.id, reset_at, reset).await.unwrap();
    assert_eq!(
        (fresh.used_ms, fresh.cycle_started_at, fresh.cycle_ends_at),
        (0, reset_at, add_months(anchor, 3))
    );
    let periods = store.list_billing_periods(carol.id, PAGE).await.unwrap();
    assert_eq!(periods.len(), 2);
    assert_eq!(
        (periods[0].period_start, periods[0].period_end),
        (add_months(anchor, 2), reset_at),
        "newest first"
    );
    assert_eq!(
        (periods[0].used_ms, periods[0].reason.as_str()),
        (800, "reset")
    );
    let rows = audit_rows(store, action::CYCLE_RESET, &carol.id.to_string()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].details["closed_used_ms"], 800);
    let missing = by(admin, action::CYCLE_RESET, target::USER);
    assert!(matches!(
        store.reset_cycle(i64::MAX, reset_at, missing).await,
        Err(StoreError::NotFound)
    ));

    audited_writes(store, admin, carol.id).await;
}

async fn audited_writes(store: &dyn Store, admin: i64, user: i64) {
    let patch = UserPatch {
        plan: Some(Plan::Pro),
        ..UserPatch::default()
    };
    let update =
        by(admin, action::USER_UPDATE, target::USER).details(serde_json::json!({"plan": "pro"}));
    let pro = store.update_user(user, patch, update).await.unwrap();
    assert_eq!(pro.plan, Plan::Pro);
    let rows = audit_rows(store, action::USER_UPDATE, &user.to_string()).await;
    assert_eq!(rows[0].details["plan"], "pro");

    let issue = by(admin, action::KEY_ISSUE, target::API_KEY);
    let key = store.create_key(user, new_key(22), issue).await.unwrap();
    assert_eq!(audit_rows(store, action::KEY_ISSUE, &key.id).await.len(), 1);
    let revoke = by(admin, action::KEY_REVOKE, target::API_KEY);
    store.revoke_key(&key.id, revoke).await.unwrap();
    let rows = audit_rows(store, action::KEY_REVOKE, &key.id).await;
    assert_eq!((rows.len(), rows[0].target_type.as_str()), (1, "api_key"));

    let voice = NewVoice {
        friendly_name: "audited-voice".into(),
        provider: Provider::Local,
        engine_voice_id: "en-us+m3".into(),
        language: "en-US".into(),
        gender: Gender::Male,
        description: None,
        is_cloned: false,
        expires_at: None,
    };
    let create = by(admin, action::VOICE_CREATE, target::VOICE);
    let voice = store.create_voice(voice, create).await.unwrap();
    assert_eq!(
        audit_rows(store, action::VOICE_CREATE, &voice.id.to_string())
            .await
            .len(),
        1
    );
    // Everything about this user, newest first.
    let about_user = AuditFilter {
        target_type: Some("user".into()),
        target_id: Some(user.to_string()),
        ..AuditFilter::default()
    };
    let (rows, total) = store.list_audit(&about_user, PAGE).await.unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            action::USER_UPDATE,
            action::CYCLE_RESET,
            action::USER_CREATE
        ]
    );
    assert_eq!(total, 3);
    assert!(rows
        .iter()
        .all(|r| r.request_id.as_deref() == Some("req-contract")));
}

/// Moves a user's cycle into the past, as if its month had gone by (writes the row directly).
async fn backdate(fixture: &Fixture, user_id: i64, anchor: DateTime<Utc>) {
    let sql = "UPDATE users SET cycle_anchor = $1, cycle_started_at = $1, cycle_ends_at = $2 WHERE id = $3";
    let args = [
        SqlArg::Time(anchor),
        SqlArg::Time(add_months(anchor, 1)),
        SqlArg::Int(user_id),
    ];
    run_sql(&fixture.database_url(), sql, &args).await;
}

/// Reservations racing on an ended cycle: it closes once, with everything billed before.
async fn reservations_roll_over_once(fixture: &Fixture) {
    let store: Arc<dyn Store> = fixture.migrated_store().await;
    let (dave, _) = store
        .create_user(
            new_user("dave@example.com", Plan::Free),
            new_key(30),
            audit(),
        )
        .await
        .unwrap();
    let lease = Utc::now() + Duration::minutes(5);
    let billed = usage(dave.id);
    assert!(reserve(store.as_ref(), &billed, 5_000, lease).await);
    store
        .settle(&billed.id, settlement(UsageStatus::Success, 5_000))
        .await
        .unwrap();
    let anchor = (Utc::now() - Duration::days(45)).trunc_subsecs(6);
    backdate(fixture, dave.id, anchor).await;
    let racers = (0..10).map(|_| {
        let store = store.clone();
        let ctx = usage(dave.id);
        tokio::spawn(async move { reserve(store.as_ref(), &ctx, 100, lease).await })
    });
    for racer in futures::future::join_all(racers).await {
        assert!(racer.unwrap());
    }
    let periods = store.list_billing_periods(dave.id, PAGE).await.unwrap();
    assert_eq!(periods.len(), 1, "rolled over exactly once");
    assert_eq!(
        (periods[0].used_ms, periods[0].period_start),
        (5_000, anchor)
    );
    let after = store.get_user(dave.id).await.unwrap();
    assert_eq!((after.used_ms, after.reserved_ms), (0, 1_000));
    assert!(after.cycle_started_at <= Utc::now() && Utc::now() < after.cycle_ends_at);
    assert_eq!(after.cycle_started_at, add_months(anchor, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_reservations_roll_an_ended_cycle_over_once() {
    reservations_roll_over_once(&Fixture::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_reservations_roll_an_ended_cycle_over_once() {
    let Some(fixture) = Fixture::postgres().await else {
        return;
    };
    reservations_roll_over_once(&fixture).await;
}
