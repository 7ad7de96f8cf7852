//! The metering path's own ceiling, for `make bench`: the two database operations every
//! metered request makes (reserve an estimate with its pending usage record, then settle it)
//! through the gateway's own store, in a tight loop, with no HTTP, engine or limits around them.
//!
//! `cargo run --release --example metering_ceiling -- DATABASE_URL SECONDS CONCURRENCY...`
//! migrates the database, creates one user and prints one JSON object per concurrency:
//! requests (reserve + settle pairs), seconds, requests/s and p50/p99 of a pair in µs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use odeadev_tts::config::Settings;
use odeadev_tts::domain::audit::{action, target, AuditEntry};
use odeadev_tts::domain::plan::{Plan, Role};
use odeadev_tts::domain::records::UsageStatus;
use odeadev_tts::startup;
use odeadev_tts::store::{
    NewKey, NewUser, Reservation, Settlement, Store, UsageContext, UserPatch,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, seconds, concurrencies @ ..] = args.as_slice() else {
        anyhow::bail!("usage: metering_ceiling DATABASE_URL SECONDS CONCURRENCY...");
    };
    let seconds: u64 = seconds.parse().context("SECONDS")?;
    let settings = Settings::load(&[("DATABASE_URL", url.as_str())], None)?;
    let database = startup::open_store(&settings).await?;
    database.migrate().await?;
    let store = database.store();
    let user = new_user(store.as_ref()).await?;
    for concurrency in concurrencies {
        let concurrency: usize = concurrency.parse().context("CONCURRENCY")?;
        let (pairs, elapsed, mut latencies) =
            run(&store, user, concurrency, Duration::from_secs(seconds)).await?;
        latencies.sort_unstable();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
            latencies.get(i).copied().unwrap_or_default()
        };
        println!(
            "{}",
            serde_json::json!({
                "concurrency": concurrency,
                "requests": pairs,
                "seconds": elapsed,
                "requests_per_s": pairs as f64 / elapsed,
                "p50_us": at(0.50),
                "p99_us": at(0.99),
            })
        );
    }
    Ok(())
}

async fn new_user(store: &dyn Store) -> anyhow::Result<i64> {
    let user = NewUser {
        name: "Metering ceiling".into(),
        email: format!("ceiling-{}@example.com", uuid::Uuid::new_v4()),
        plan: Plan::Enterprise,
        role: Role::User,
    };
    let key = NewKey {
        name: "ceiling".into(),
        prefix: "odt_ceiling".into(),
        hash: uuid::Uuid::new_v4().as_bytes().repeat(2),
        expires_at: None,
    };
    let by_hand = |action| AuditEntry::new(None, action, target::USER, String::new());
    let (user, _) = store
        .create_user(user, key, by_hand(action::USER_CREATE))
        .await?;
    let unlimited = UserPatch {
        quota_ms: Some(Some(i64::MAX / 4)),
        ..UserPatch::default()
    };
    store
        .update_user(user.id, unlimited, by_hand(action::QUOTA_SET))
        .await?;
    Ok(user.id)
}

/// `concurrency` loops of reserve + settle until `length` is over.
async fn run(
    store: &Arc<dyn Store>,
    user_id: i64,
    concurrency: usize,
    length: Duration,
) -> anyhow::Result<(u64, f64, Vec<u64>)> {
    let started = Instant::now();
    let deadline = started + length;
    let loops: Vec<_> = (0..concurrency)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { one_loop(store.as_ref(), user_id, deadline).await })
        })
        .collect();
    let mut latencies = Vec::new();
    for one in loops {
        latencies.extend(one.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((latencies.len() as u64, elapsed, latencies))
}

async fn one_loop(store: &dyn Store, user_id: i64, deadline: Instant) -> anyhow::Result<Vec<u64>> {
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let usage = UsageContext {
            id: uuid::Uuid::now_v7().to_string(),
            user_id,
            key_id: None,
            voice_id: None,
            request_id: uuid::Uuid::new_v4().to_string(),
            endpoint: "/v1/tts",
            engine: Some("minimax"),
            model_used: Some("speech-02-turbo".into()),
            text_length: 25,
        };
        let lease = Utc::now() + chrono::Duration::seconds(60);
        match store.reserve(&usage, 3_500, lease).await? {
            Reservation::Reserved => {}
            Reservation::Insufficient { .. } => anyhow::bail!("quota ran out"),
        }
        let settlement = Settlement {
            status: UsageStatus::Success,
            billed_ms: 1_300,
            error_code: None,
            error_message: None,
        };
        store.settle(&usage.id, settlement).await?;
        latencies.push(started.elapsed().as_micros() as u64);
    }
    Ok(latencies)
}
