//! The store contract: one story, written once against `Arc<dyn Store>`, told to a fresh SQLite
//! file and to a fresh PostgreSQL database (`TEST_DATABASE_URL`; required when `CI=true`).
//! Also the schema checks behind `serve --no-migrate` and concurrent `migrate`.

mod cycles;
mod metering;
mod story;

use std::sync::Arc;

use odeadev_tts::config::{DatabaseSettings, Settings};
use odeadev_tts::startup;
use odeadev_tts::store::Database;
use odeadev_tts::store::Store;

use crate::direct_sql::run_sql;
use crate::helpers::{required_service, PgTestDatabase};
use story::{audit, store_story};

/// A fresh database of one backend and what keeps it alive.
struct Fixture {
    settings: Settings,
    _dir: tempfile::TempDir,
    _pg: Option<PgTestDatabase>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("contract.db").display());
        let settings = Settings::load(&[("DATABASE_URL", url.as_str())], None).unwrap();
        Fixture {
            settings,
            _dir: dir,
            _pg: None,
        }
    }

    /// `None` (after saying so) when PostgreSQL is not configured locally; panics in CI.
    async fn postgres() -> Option<Fixture> {
        Fixture::postgres_with(&[]).await
    }

    /// [`Fixture::postgres`] with more settings.
    async fn postgres_with(extra: &[(&str, &str)]) -> Option<Fixture> {
        let admin_url = required_service("TEST_DATABASE_URL", "the PostgreSQL store contract")?;
        let pg = PgTestDatabase::create(&admin_url).await;
        let vars: std::collections::HashMap<String, String> = [("DATABASE_URL", pg.url.as_str())]
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = Settings::load(&vars, None).unwrap();
        Some(Fixture {
            settings,
            _dir: tempfile::tempdir().unwrap(),
            _pg: Some(pg),
        })
    }

    /// The fixture's `DATABASE_URL`.
    fn database_url(&self) -> String {
        match &self.settings.database {
            DatabaseSettings::Sqlite { path } => format!("sqlite://{}", path.display()),
            DatabaseSettings::Postgres { url } => url.clone(),
        }
    }

    async fn open(&self) -> Database {
        startup::open_store(&self.settings).await.unwrap()
    }

    async fn migrated_store(&self) -> Arc<dyn Store> {
        let database = self.open().await;
        database.migrate().await.unwrap();
        database.ping().await.unwrap();
        database.store()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_keeps_the_contract() {
    let fixture = Fixture::sqlite().await;
    store_story(fixture.migrated_store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_contract() {
    let Some(fixture) = Fixture::postgres().await else {
        return;
    };
    store_story(fixture.migrated_store().await).await;
}

/// A user on the enterprise plan, with one key.
async fn enterprise_user(
    store: &dyn Store,
    email: &str,
    key_tag: u8,
) -> odeadev_tts::domain::records::User {
    let plan = odeadev_tts::domain::plan::Plan::Enterprise;
    let (user, _) = store
        .create_user(
            story::new_user(email, plan),
            story::new_key(key_tag),
            audit(),
        )
        .await
        .unwrap();
    user
}

/// Connections the gateway holds open to `database`.
async fn node_connections(admin: &mut sqlx::PgConnection, database: &str) -> i64 {
    let (open,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'odeadev-tts'",
    )
    .bind(database)
    .fetch_one(admin)
    .await
    .unwrap();
    open
}

/// A node keeps to `ODEADEV_DB_MAX_CONNECTIONS` connections in all, metering included, and a
/// server that dropped them costs the metering path at most one failed statement, with the
/// books untouched by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_node_keeps_its_connection_budget_and_replaces_dropped_connections() {
    use sqlx::Connection;
    let Some(fixture) = Fixture::postgres_with(&[("ODEADEV_DB_MAX_CONNECTIONS", "4")]).await else {
        return;
    };
    let node = fixture.open().await;
    node.migrate().await.unwrap();
    let store = node.store();
    let user = enterprise_user(store.as_ref(), "budget@example.com", 41).await;
    let pg = fixture._pg.as_ref().unwrap();
    let database = url::Url::parse(&pg.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let mut admin = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let lease = chrono::Utc::now() + chrono::Duration::minutes(5);
    let done = odeadev_tts::domain::records::UsageStatus::Success;

    let requests: Vec<_> = (0..24)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    let usage = story::usage(user.id);
                    assert!(story::reserve(store.as_ref(), &usage, 10, lease).await);
                    store.get_user(user.id).await.unwrap();
                    let settled = store.settle(&usage.id, story::settlement(done, 10));
                    assert!(settled.await.unwrap().applied);
                }
            })
        })
        .collect();
    let mut peak = 0i64;
    while requests.iter().any(|r| !r.is_finished()) {
        peak = peak.max(node_connections(&mut admin, &database).await);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    for request in requests {
        request.await.unwrap();
    }
    let peak = peak.max(node_connections(&mut admin, &database).await);
    assert!(peak <= 4, "the node opened {peak} connections");
    let metering = node.pool_stats().into_iter().find(|p| p.name == "metering");
    assert!(
        metering.is_some_and(|p| p.in_use + p.idle >= 1),
        "the metering statements ran on their own connections"
    );
    assert_eq!(store.get_user(user.id).await.unwrap().used_ms, 24 * 5 * 10);

    // The server drops every connection of the node (a restart, a failover).
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'odeadev-tts'")
        .bind(&database)
        .execute(&mut admin)
        .await
        .unwrap();
    for _ in 0..100 {
        if node_connections(&mut admin, &database).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut failures = 0;
    let mut reserved = 0;
    for _ in 0..4 {
        match store.reserve(&story::usage(user.id), 10, lease).await {
            Ok(odeadev_tts::store::Reservation::Reserved) => reserved += 1,
            Ok(refused) => panic!("refused: {refused:?}"),
            Err(odeadev_tts::store::StoreError::Unavailable(_)) => failures += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert!(
        failures <= 1,
        "{failures} reservations failed on dropped connections"
    );
    assert_eq!(reserved, 4 - failures);
    // The shared pool may still hand out each of its dropped connections once.
    let mut after = None;
    for _ in 0..5 {
        if let Ok(user) = store.get_user(user.id).await {
            after = Some(user);
            break;
        }
    }
    assert_eq!(
        after.expect("the pool reconnected").reserved_ms,
        10 * reserved,
        "a failed reservation holds nothing"
    );
    let _ = admin.close().await;
}

/// Checkpoints run on their own thread, never inside a request's commit; the write-ahead log
/// must still stay bounded while writes never pause (a checkpoint racing the writer alone
/// would never let the log start over).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_log_stays_bounded_while_writes_never_pause() {
    const LIMIT: u64 = 80 << 20;
    let fixture = Fixture::sqlite().await;
    let store = fixture.migrated_store().await;
    let user = enterprise_user(store.as_ref(), "wal@example.com", 9).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let lease = chrono::Utc::now() + chrono::Duration::minutes(5);
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ops = 0u64;
                while std::time::Instant::now() < deadline {
                    let usage = story::usage(user.id);
                    assert!(story::reserve(store.as_ref(), &usage, 1, lease).await);
                    let done = odeadev_tts::domain::records::UsageStatus::Success;
                    let settled = store.settle(&usage.id, story::settlement(done, 0));
                    assert!(settled.await.unwrap().applied);
                    ops += 1;
                }
                ops
            })
        })
        .collect();
    let log = fixture._dir.path().join("contract.db-wal");
    let mut peak = 0;
    while std::time::Instant::now() < deadline {
        peak = peak.max(std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut ops = 0;
    for writer in writers {
        ops += writer.await.unwrap();
    }
    eprintln!("{ops} reservations and settlements; log peaked at {peak} bytes");
    assert!(peak > 0, "no write-ahead log seen at {}", log.display());
    assert!(
        peak <= LIMIT,
        "the log grew to {peak} bytes over {ops} writes"
    );
}

/// A metering write that finds another connection holding SQLite's write lock waits on the
/// writer thread, never on the caller's: the runtime's only thread keeps serving other tasks,
/// and the write lands once the lock is released.
#[tokio::test(flavor = "current_thread")]
async fn sqlite_metering_waits_for_a_held_write_lock_off_the_callers_thread() {
    let fixture = Fixture::sqlite().await;
    let store = fixture.migrated_store().await;
    let (user, _) = store
        .create_user(
            story::new_user("lock@example.com", odeadev_tts::domain::plan::Plan::Pro),
            story::new_key(8),
            audit(),
        )
        .await
        .unwrap();
    let blocker = rusqlite::Connection::open(fixture._dir.path().join("contract.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let lease = chrono::Utc::now() + chrono::Duration::minutes(5);
    let reserving = tokio::spawn({
        let store = store.clone();
        async move {
            let usage = story::usage(user.id);
            story::reserve(store.as_ref(), &usage, 1_000, lease).await
        }
    });
    // Were the write waiting on this thread, this sleep could not end before SQLite's busy
    // timeout (5 s) gave up.
    let asleep = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let slept = asleep.elapsed();
    assert!(
        slept < std::time::Duration::from_millis(2_500),
        "the runtime's thread was held for {slept:?} by a write waiting for the lock"
    );
    assert!(
        !reserving.is_finished(),
        "the reservation did not wait for the lock"
    );
    blocker.execute_batch("COMMIT").unwrap();
    assert!(reserving.await.unwrap());
    let reserved = store.get_user(user.id).await.unwrap().reserved_ms;
    assert_eq!(reserved, 1_000);
}

#[tokio::test]
async fn sqlite_schema_checks_name_the_first_missing_migration() {
    schema_story(
        &Fixture::sqlite().await,
        "DELETE FROM _sqlx_migrations WHERE version = 2",
    )
    .await;
}

#[tokio::test]
async fn postgres_schema_checks_name_the_first_missing_migration() {
    let Some(fixture) = Fixture::postgres().await else {
        return;
    };
    schema_story(&fixture, "DELETE FROM _sqlx_migrations WHERE version = 2").await;
}

#[tokio::test]
async fn postgres_migrate_is_safe_from_several_nodes_at_once() {
    let Some(fixture) = Fixture::postgres().await else {
        return;
    };
    let mut nodes = Vec::new();
    for _ in 0..4 {
        nodes.push(fixture.open().await);
    }
    let runs = futures::future::join_all(nodes.iter().map(Database::migrate)).await;
    for run in runs {
        run.unwrap();
    }
    assert!(nodes[0].pending_migrations().await.unwrap().is_empty());
}

async fn schema_story(fixture: &Fixture, forget_second: &str) {
    let database = fixture.open().await;
    assert_eq!(
        database.pending_migrations().await.unwrap(),
        [
            "0001_initial",
            "0002_local_voices",
            "0003_billing_cycles",
            "0004_ascending_usage_index",
            "0005_usage_time_key",
            "0006_usage_refusals",
            "0007_piper_voices"
        ]
    );
    database.migrate().await.unwrap();
    database.require_current_schema().await.unwrap();
    // An operator rolled back by hand, or a node runs a newer binary than the schema.
    run_sql(&fixture.database_url(), forget_second, &[]).await;
    let refused = database.require_current_schema().await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "database schema is behind: migration 0002_local_voices has not been applied; run odeadev-tts migrate"
    );
}

#[test]
fn serve_no_migrate_refuses_an_unmigrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_odeadev-tts"))
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("ODEADEV_BIND", "127.0.0.1:0")
        .args(["serve", "--no-migrate"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("migration 0001_initial has not been applied; run odeadev-tts migrate"),
        "{stderr}"
    );
}
