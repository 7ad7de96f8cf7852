//! The contract story, continued: reservations, settlements, leases, refusals, listings and
//! races between concurrent requests, settlers and reapers.

use std::sync::Arc;

use chrono::Utc;
use odeadev_tts::domain::plan::Plan;
use odeadev_tts::domain::records::UsageStatus;
use odeadev_tts::store::*;

use super::story::{audit, new_key, new_user, reserve, settlement, usage};

pub(super) async fn metering(store: &dyn Store, alice: i64) {
    let later = Utc::now() + chrono::Duration::minutes(5);
    // Quota 10 000 ms (custom, from users_and_keys).
    let first = usage(alice);
    assert!(reserve(store, &first, 4_000, later).await);
    assert_eq!(store.get_user(alice).await.unwrap().reserved_ms, 4_000);
    // A reservation whose record cannot be written (the id is taken) reserves nothing.
    assert!(matches!(
        store.reserve(&first, 1_000, later).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_user(alice).await.unwrap().reserved_ms, 4_000);
    let refused = usage(alice);
    match store.reserve(&refused, 7_000, later).await.unwrap() {
        Reservation::Insufficient { available_ms } => assert_eq!(available_ms, 6_000),
        Reservation::Reserved => panic!("reserved past the quota"),
    }
    let settled = store
        .settle(&first.id, settlement(UsageStatus::Success, 3_000))
        .await
        .unwrap();
    assert!(settled.applied);
    assert_eq!(settled.remaining_ms, 7_000);
    let twice = store
        .settle(&first.id, settlement(UsageStatus::Error, 0))
        .await
        .unwrap();
    assert!(!twice.applied, "a record settles exactly once");
    assert_eq!(twice.remaining_ms, 7_000);
    let u = store.get_user(alice).await.unwrap();
    assert_eq!((u.used_ms, u.reserved_ms), (3_000, 0));
    assert!(matches!(
        store
            .settle("missing", settlement(UsageStatus::Success, 1))
            .await,
        Err(StoreError::NotFound)
    ));

    let greedy = usage(alice);
    assert!(reserve(store, &greedy, 1_000, later).await);
    store
        .settle(&greedy.id, settlement(UsageStatus::Cancelled, 99_999))
        .await
        .unwrap();
    assert_eq!(
        store.get_user(alice).await.unwrap().used_ms,
        4_000,
        "the bill is capped by the reservation"
    );

    // Leases: an expired one is reaped as failed; an extended one is not.
    let now = Utc::now();
    let (dead, long) = (usage(alice), usage(alice));
    assert!(reserve(store, &dead, 500, now - chrono::Duration::seconds(1)).await);
    assert!(reserve(store, &long, 700, now + chrono::Duration::seconds(1)).await);
    store
        .extend_lease(&long.id, now + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .reap_expired(now + chrono::Duration::seconds(2))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.get_user(alice).await.unwrap().reserved_ms, 700);
    assert!(
        !store
            .settle(&dead.id, settlement(UsageStatus::Success, 500))
            .await
            .unwrap()
            .applied
    );
    assert!(
        store
            .settle(&long.id, settlement(UsageStatus::Success, 600))
            .await
            .unwrap()
            .applied
    );
    assert_eq!(
        store
            .reap_expired(now + chrono::Duration::hours(2))
            .await
            .unwrap(),
        0
    );

    // Refusals by a limit add to counts per user and hour, from any number of nodes.
    let now = Utc::now();
    store
        .count_refusals(&[RefusalCount::rate_limited(alice, now, 2)])
        .await
        .unwrap();
    store
        .count_refusals(&[RefusalCount::rate_limited(alice, now, 1)])
        .await
        .unwrap();
    let u = store.get_user(alice).await.unwrap();
    assert_eq!((u.used_ms, u.reserved_ms), (4_600, 0));

    let records = store
        .list_usage(
            alice,
            Page {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 5, "counted refusals are not records");
    assert!(records.iter().all(|r| r.status != UsageStatus::RateLimited));
    let reaped = records.iter().find(|r| r.id == dead.id).unwrap();
    assert_eq!(
        (reaped.status, reaped.audio_ms, reaped.error_code.as_deref()),
        (UsageStatus::Error, 0, Some("lease_expired"))
    );
    assert!(reaped.settled_at.is_some());
    let quota = records.iter().find(|r| r.id == refused.id).unwrap();
    assert_eq!(
        (quota.status, quota.reserved_ms),
        (UsageStatus::QuotaExceeded, 0)
    );
    let ok = records.iter().find(|r| r.id == first.id).unwrap();
    assert_eq!(
        (ok.status, ok.reserved_ms, ok.audio_ms, ok.text_length),
        (UsageStatus::Success, 4_000, 3_000, 42)
    );
    assert_eq!(
        (ok.endpoint.as_str(), ok.engine.as_deref(), ok.voice_id),
        ("/v1/tts", Some("minimax"), Some(1))
    );
    assert_eq!(
        store
            .list_usage(
                alice,
                Page {
                    offset: 4,
                    limit: 10
                }
            )
            .await
            .unwrap()
            .len(),
        1
    );

    let stats = store.usage_stats(alice).await.unwrap();
    assert_eq!(
        (
            stats.total_requests,
            stats.successful_requests,
            stats.failed_requests
        ),
        (8, 2, 6)
    );
    assert_eq!(
        (
            stats.quota_exceeded_requests,
            stats.rate_limited_requests,
            stats.total_audio_ms
        ),
        (1, 3, 4_600)
    );
}

/// A request whose reservation was lost in a database crash (its pending record is gone)
/// is still recorded and billed exactly once when it settles.
pub(super) async fn lost_reservation(store: &dyn Store) {
    let (carol, _) = store
        .create_user(
            new_user("lost@example.com", Plan::Free),
            new_key(40),
            audit(),
        )
        .await
        .unwrap();
    let lost = usage(carol.id);
    let done = settlement(UsageStatus::Success, 2_500);
    assert!(matches!(
        store.settle(&lost.id, done.clone()).await,
        Err(StoreError::NotFound)
    ));
    let settled = store.settle_unreserved(&lost, done.clone()).await.unwrap();
    assert!(settled.applied);
    assert_eq!(settled.remaining_ms, carol.quota_ms - 2_500);
    let u = store.get_user(carol.id).await.unwrap();
    assert_eq!((u.used_ms, u.reserved_ms), (2_500, 0));
    let page = Page {
        offset: 0,
        limit: 10,
    };
    let records = store.list_usage(carol.id, page).await.unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.id, lost.id);
    assert_eq!(record.status, UsageStatus::Success);
    assert_eq!((record.audio_ms, record.reserved_ms), (2_500, 0));
    assert_eq!(record.request_id, lost.request_id);
    // Now it exists: settling again changes nothing, and writing it again is a conflict.
    assert!(!store.settle(&lost.id, done.clone()).await.unwrap().applied);
    assert!(matches!(
        store.settle_unreserved(&lost, done).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_user(carol.id).await.unwrap().used_ms, 2_500);

    // With the quota nearly spent, a lost reservation bills only what is still free: the
    // crash gave the audio away rather than take the user past the quota.
    let nearly = UserPatch {
        used_ms: Some(carol.quota_ms - 1_000),
        ..UserPatch::default()
    };
    store.update_user(carol.id, nearly, audit()).await.unwrap();
    let late = usage(carol.id);
    let settled = store
        .settle_unreserved(&late, settlement(UsageStatus::Success, 5_000))
        .await
        .unwrap();
    assert_eq!(settled.remaining_ms, 0);
    let u = store.get_user(carol.id).await.unwrap();
    assert_eq!(u.used_ms, u.quota_ms, "never past the quota");
    let records = store.list_usage(carol.id, page).await.unwrap();
    let record = records.iter().find(|r| r.id == late.id).unwrap();
    assert_eq!(record.audio_ms, 1_000, "the record bills what was billed");
}

pub(super) async fn concurrency(store: Arc<dyn Store>) {
    let (user, _) = store
        .create_user(
            new_user("crowd@example.com", Plan::Free),
            new_key(7),
            audit(),
        )
        .await
        .unwrap();
    let patch = UserPatch {
        quota_ms: Some(Some(10_000)),
        ..UserPatch::default()
    };
    store.update_user(user.id, patch, audit()).await.unwrap();
    let past = Utc::now() - chrono::Duration::seconds(1);
    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let ctx = usage(user.id);
                reserve(store.as_ref(), &ctx, 1_000, past)
                    .await
                    .then_some(ctx.id)
            })
        })
        .collect();
    let mut reserved = Vec::new();
    for attempt in attempts {
        reserved.extend(attempt.await.unwrap());
    }
    assert_eq!(
        reserved.len(),
        10,
        "concurrent reservations never exceed the quota"
    );
    assert_eq!(store.get_user(user.id).await.unwrap().reserved_ms, 10_000);

    // Eight settlers race on one record: exactly one bills it.
    let contested = reserved.pop().unwrap();
    let settlers: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), contested.clone());
            tokio::spawn(async move {
                store
                    .settle(&id, settlement(UsageStatus::Success, 1_000))
                    .await
                    .unwrap()
                    .applied
            })
        })
        .collect();
    let mut applied = 0;
    for settler in settlers {
        applied += usize::from(settler.await.unwrap());
    }
    assert_eq!(applied, 1);

    // Several reapers (nodes) at once settle the other nine leases exactly once between them.
    let reapers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.reap_expired(Utc::now()).await.unwrap() })
        })
        .collect();
    let mut reaped = 0;
    for reaper in reapers {
        reaped += reaper.await.unwrap();
    }
    assert_eq!(reaped, 9);
    let u = store.get_user(user.id).await.unwrap();
    assert_eq!((u.used_ms, u.reserved_ms), (1_000, 0));
}
