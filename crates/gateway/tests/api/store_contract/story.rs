//! The contract story: users, keys and voices, then metering (see `metering.rs`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use odeadev_tts::domain::audit::AuditEntry;
use odeadev_tts::domain::options::Gender;
use odeadev_tts::domain::plan::{Plan, Role};
use odeadev_tts::domain::records::UsageStatus;
use odeadev_tts::engine::Provider;
use odeadev_tts::store::*;

use super::metering::{concurrency, lost_reservation, metering};

pub(super) fn new_user(email: &str, plan: Plan) -> NewUser {
    NewUser {
        name: "Contract".into(),
        email: email.into(),
        plan,
        role: Role::User,
    }
}

pub(super) fn new_key(tag: u8) -> NewKey {
    NewKey {
        name: format!("key-{tag}"),
        prefix: format!("odt_{tag}"),
        hash: vec![tag; 32],
        expires_at: None,
    }
}

/// The audit entry of a change the story makes to set itself up, under an action of its own
/// so that the audit story's counts are not changed by it.
pub(super) fn audit() -> AuditEntry {
    AuditEntry::new(None, "test.setup", "user", String::new())
}

pub(super) fn usage(user_id: i64) -> UsageContext {
    UsageContext {
        id: uuid::Uuid::now_v7().to_string(),
        user_id,
        key_id: None,
        voice_id: Some(1),
        request_id: uuid::Uuid::new_v4().to_string(),
        endpoint: "/v1/tts",
        engine: Some("minimax"),
        model_used: Some("speech-02-hd".into()),
        text_length: 42,
    }
}

pub(super) fn settlement(status: UsageStatus, billed_ms: i64) -> Settlement {
    Settlement {
        status,
        billed_ms,
        error_code: None,
        error_message: None,
    }
}

pub(super) async fn reserve(
    store: &dyn Store,
    ctx: &UsageContext,
    ms: i64,
    lease: DateTime<Utc>,
) -> bool {
    match store.reserve(ctx, ms, lease).await.unwrap() {
        Reservation::Reserved => true,
        Reservation::Insufficient { .. } => false,
    }
}

/// Everything a backend must do the same way, in one story.
pub(super) async fn store_story(store: Arc<dyn Store>) {
    assert_eq!(store.key_pepper(&[1; 32]).await.unwrap(), vec![1; 32]);
    assert_eq!(store.key_pepper(&[2; 32]).await.unwrap(), vec![1; 32]);
    let alice = users_and_keys(store.as_ref()).await;
    voices(store.as_ref()).await;
    metering(store.as_ref(), alice).await;
    lost_reservation(store.as_ref()).await;
    concurrency(store.clone()).await;
    // Last: it lives a few months ahead.
    super::cycles::cycles(store.as_ref(), alice).await;
}

async fn users_and_keys(store: &dyn Store) -> i64 {
    let (alice, first) = store
        .create_user(
            new_user("alice@example.com", Plan::Free),
            new_key(1),
            audit(),
        )
        .await
        .unwrap();
    assert_eq!(
        (alice.quota_ms, alice.used_ms, alice.reserved_ms),
        (600_000, 0, 0)
    );
    assert!(alice.is_active && !alice.quota_custom);
    let taken = store
        .create_user(
            new_user("ALICE@example.com", Plan::Pro),
            new_key(2),
            audit(),
        )
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict("email"))),
        "{taken:?}"
    );
    assert!(matches!(
        store.get_user(i64::MAX).await,
        Err(StoreError::NotFound)
    ));

    let (bob, _) = store
        .create_user(new_user("bob@example.com", Plan::Pro), new_key(3), audit())
        .await
        .unwrap();
    let free = UserFilter {
        plan: Some(Plan::Free),
        is_active: None,
    };
    let (listed, total) = store
        .list_users(
            &free,
            Page {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!((listed.len(), total, listed[0].id), (1, 1, alice.id));
    let (page, total) = store
        .list_users(
            &UserFilter::default(),
            Page {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((page.len(), total, page[0].id), (1, 2, bob.id));

    let patch = UserPatch {
        plan: Some(Plan::Basic),
        rpm_limit: Some(Some(7)),
        ..UserPatch::default()
    };
    let basic = store.update_user(alice.id, patch, audit()).await.unwrap();
    assert_eq!(
        (basic.plan, basic.quota_ms, basic.rpm_limit),
        (Plan::Basic, 3_600_000, Some(7))
    );
    let custom = store
        .update_user(
            alice.id,
            UserPatch {
                quota_ms: Some(Some(10_000)),
                ..UserPatch::default()
            },
            audit(),
        )
        .await
        .unwrap();
    let kept = store
        .update_user(
            alice.id,
            UserPatch {
                plan: Some(Plan::Pro),
                rpm_limit: Some(None),
                ..UserPatch::default()
            },
            audit(),
        )
        .await
        .unwrap();
    assert!(custom.quota_custom && kept.quota_custom);
    assert_eq!(
        (kept.plan, kept.quota_ms, kept.rpm_limit),
        (Plan::Pro, 10_000, None)
    );
    let inactive = UserFilter {
        plan: None,
        is_active: Some(false),
    };
    store
        .update_user(
            bob.id,
            UserPatch {
                is_active: Some(false),
                ..UserPatch::default()
            },
            audit(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .list_users(
                &inactive,
                Page {
                    offset: 0,
                    limit: 10
                }
            )
            .await
            .unwrap()
            .1,
        1
    );
    assert!(
        !reserve(store, &usage(bob.id), 1, Utc::now()).await,
        "inactive users reserve nothing"
    );

    tokio::time::sleep(Duration::from_millis(3)).await;
    let second = store
        .create_key(alice.id, new_key(4), audit())
        .await
        .unwrap();
    assert!(matches!(
        store.create_key(i64::MAX, new_key(5), audit()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.create_key(alice.id, new_key(4), audit()).await,
        Err(StoreError::Conflict(_))
    ));
    let keys = store.list_keys(alice.id).await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        [second.id.as_str(), first.id.as_str()]
    );
    let (found, owner) = store.find_key(&[4; 32]).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), owner.id, found.hash.as_slice()),
        (second.id.as_str(), alice.id, &[4u8; 32][..])
    );
    assert!(store.find_key(&[9; 32]).await.unwrap().is_none());
    store.touch_key(&first.id, Utc::now()).await.unwrap();
    assert!(store
        .find_key(&[1; 32])
        .await
        .unwrap()
        .unwrap()
        .0
        .last_used_at
        .is_some());
    let revoked = store.revoke_key(&first.id, audit()).await.unwrap();
    let again = store.revoke_key(&first.id, audit()).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        revoked.revoked_at, again.revoked_at,
        "revoking twice keeps the first time"
    );
    assert!(matches!(
        store.revoke_key("nope", audit()).await,
        Err(StoreError::NotFound)
    ));
    alice.id
}

async fn voices(store: &dyn Store) {
    let all = store.list_voices(&VoiceFilter::default()).await.unwrap();
    assert_eq!(all.len(), 13, "seeded MiniMax and local voices");
    let marcus = store.find_voice("marcus").await.unwrap().unwrap();
    assert!(marcus.is_verified && marcus.use_cases.len() == 3);
    assert!(store.find_voice("nobody").await.unwrap().is_none());
    let british_women = VoiceFilter {
        language: Some("en-GB".into()),
        gender: Some(Gender::Female),
        include_inactive: false,
    };
    let found = store.list_voices(&british_women).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    let clone = NewVoice {
        friendly_name: "my-clone".into(),
        provider: Provider::Minimax,
        engine_voice_id: "clone-1".into(),
        language: "en-US".into(),
        gender: Gender::Neutral,
        description: None,
        is_cloned: true,
        expires_at: Some(Utc::now() + chrono::Duration::days(7)),
    };
    let created = store.create_voice(clone.clone(), audit()).await.unwrap();
    assert!(created.is_cloned && created.is_active && created.id > marcus.id);
    assert!(matches!(
        store.create_voice(clone, audit()).await,
        Err(StoreError::Conflict("friendly_name"))
    ));
}
