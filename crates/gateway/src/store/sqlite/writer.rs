//! The SQLite metering hot path (`reserve`'s fast path and `settle`) on one `rusqlite`
//! connection, without sqlx's per-statement thread hand-offs.
//!
//! The connection sits behind a mutex. A caller that finds it free, nobody queued and no
//! batch of several ops run lately (no concurrent writes) runs its op right there, in a
//! transaction of its own: a lone request pays no thread hand-off at all. Otherwise the
//! caller sends the op to the writer thread through a channel and awaits a oneshot reply.
//! The thread takes the first waiting op, drains up to [`MAX_BATCH`] more without blocking,
//! and runs them all in one `BEGIN IMMEDIATE … COMMIT` (group commit), each inside its own
//! savepoint so that one failing op leaves the others intact. Either way, an answer comes
//! only after the commit succeeded: nobody learns of a reservation or settlement that could
//! still be lost.
//!
//! A caller never waits on a lock: it only *tries* the mutex, and runs its `BEGIN` with no
//! busy timeout, falling back to the queue when another connection holds the write lock.
//! The commit itself appends to the log without an fsync (`synchronous = NORMAL`; only the
//! commit that starts the log over after a checkpoint syncs its header, a few times a second
//! at most), so the caller's worker thread is held for tens of microseconds.
//!
//! The thread ends when the last [`Writer`] handle is dropped (the channel closes).

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use tokio::sync::oneshot;

use super::checkpoint::LogGrowth;
use super::instants::{timestamp, unix_nanos};
use crate::domain::records::UsageStatus;
use crate::store::{Settled, Settlement, StoreError, UsageContext};

/// Ops drained after the first one into a single transaction, at most.
const MAX_BATCH: usize = 256;

/// How long after the writer thread's last batch callers still queue their writes.
const BATCHING_QUIET: Duration = Duration::from_millis(5);

/// How long the writer thread (never a caller) waits for another connection's write lock.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const RESERVE_FAST: &str = "UPDATE users SET reserved_ms = reserved_ms + ?1 WHERE id = ?2 AND is_active = 1 AND used_ms + reserved_ms + ?1 <= quota_ms AND cycle_ends_at > ?3";
const SETTLE_RECORD: &str = "UPDATE usage_records SET status = ?1, audio_ms = MIN(MAX(?2, 0), reserved_ms), error_code = ?3, error_message = ?4, settled_at = ?5, lease_expires_at = NULL WHERE id = ?6 AND status = 'pending' RETURNING user_id, reserved_ms, audio_ms";
const SETTLE_USER: &str = "UPDATE users SET reserved_ms = reserved_ms - ?1, used_ms = used_ms + ?2 WHERE id = ?3 RETURNING MAX(0, quota_ms - used_ms)";
const REMAINING: &str = "SELECT MAX(0, u.quota_ms - u.used_ms) FROM usage_records r JOIN users u ON u.id = r.user_id WHERE r.id = ?";

/// Work for the writer.
enum Op {
    /// The fast path of a reservation: a running cycle whose quota covers the estimate.
    Reserve {
        usage: UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// Settles a pending usage record and bills its user.
    Settle {
        usage_id: String,
        settlement: Settlement,
        now: DateTime<Utc>,
    },
}

/// What an op did, once its transaction committed.
enum Reply {
    Reserved,
    NeedsSlowPath,
    Settled(Settled),
}

/// Outcome of the reservation fast path.
pub(super) enum FastReserve {
    /// Reserved; the pending usage record is written.
    Reserved,
    /// Nothing written: the cycle is over, the quota is short or the user is inactive; the
    /// caller takes the full (sqlx) path.
    NeedsSlowPath,
}

type ReplyTx = oneshot::Sender<Result<Reply, StoreError>>;

/// The connection and what callers need to decide whether to use it themselves.
struct SharedConnection {
    conn: Mutex<Connection>,
    /// Ops sent to the thread and not yet answered; a caller runs inline only at zero, so
    /// queued ops are never overtaken.
    queued: AtomicUsize,
    /// Until when (µs since `started`) callers leave writes to the thread, because it ran a
    /// batch of several ops lately: while writes are concurrent, they group-commit rather than
    /// each paying a commit of its own on a worker thread.
    batching_until: AtomicU64,
    started: Instant,
    /// Told of every commit, to call a checkpoint when the log is long.
    growth: Arc<LogGrowth>,
}

/// Handle to the writer; clones share the connection and the thread.
#[derive(Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<(Op, ReplyTx)>,
    shared: Arc<SharedConnection>,
}

/// Holds the writer's connection: no metering write runs while it lives. The checkpoint
/// thread takes it to complete a checkpoint that no write can race.
pub(super) struct WritesPaused<'a> {
    _conn: MutexGuard<'a, Connection>,
}

/// Lets another thread pause the writer without keeping the writer thread alive.
#[derive(Clone)]
pub(super) struct PauseHandle(Arc<SharedConnection>);

impl PauseHandle {
    /// Waits until the connection is free and holds it.
    pub(super) fn pause(&self) -> WritesPaused<'_> {
        WritesPaused {
            _conn: self.0.lock(),
        }
    }
}

impl SharedConnection {
    fn micros(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether the thread ran a batch of several ops within the last [`BATCHING_QUIET`].
    fn batching(&self) -> bool {
        self.micros() < self.batching_until.load(Ordering::Relaxed)
    }

    /// Notes that the thread just ran a batch of several ops.
    fn batched(&self) {
        let quiet = u64::try_from(BATCHING_QUIET.as_micros()).unwrap_or(u64::MAX);
        let until = self.micros().saturating_add(quiet);
        self.batching_until.store(until, Ordering::Relaxed);
    }

    /// The connection, waiting for it; a transaction left open by a panic is rolled back.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        rollback(&conn);
        conn
    }

    /// The connection if it is free right now.
    fn try_lock(&self) -> Option<MutexGuard<'_, Connection>> {
        match self.conn.try_lock() {
            Ok(conn) => Some(conn),
            Err(TryLockError::Poisoned(poisoned)) => {
                let conn = poisoned.into_inner();
                rollback(&conn);
                Some(conn)
            }
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

impl Writer {
    /// Opens a connection to the (existing) database file and starts the thread.
    pub(super) fn start(path: &Path, growth: Arc<LogGrowth>) -> Result<Writer, StoreError> {
        let shared = Arc::new(SharedConnection {
            conn: Mutex::new(open(path).map_err(|e| store_err(&e))?),
            queued: AtomicUsize::new(0),
            batching_until: AtomicU64::new(0),
            started: Instant::now(),
            growth,
        });
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&thread_shared, &rx))
            .map_err(|e| StoreError::Unavailable(format!("sqlite writer thread: {e}")))?;
        Ok(Writer { tx, shared })
    }

    /// A handle that can pause metering writes (see [`WritesPaused`]).
    pub(super) fn pause_handle(&self) -> PauseHandle {
        PauseHandle(self.shared.clone())
    }

    /// Reserves `estimate_ms` for the user when the fast path applies.
    pub(super) async fn reserve(
        &self,
        usage: &UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<FastReserve, StoreError> {
        let op = Op::Reserve {
            usage: usage.clone(),
            estimate_ms,
            lease_until,
            now,
        };
        match self.call(op).await? {
            Reply::Reserved => Ok(FastReserve::Reserved),
            Reply::NeedsSlowPath => Ok(FastReserve::NeedsSlowPath),
            Reply::Settled(_) => Err(StoreError::Corrupt("writer: mismatched reply".into())),
        }
    }

    /// Settles a pending record; `applied` is false when it was settled already.
    pub(super) async fn settle(
        &self,
        usage_id: &str,
        settlement: Settlement,
        now: DateTime<Utc>,
    ) -> Result<Settled, StoreError> {
        let op = Op::Settle {
            usage_id: usage_id.to_owned(),
            settlement,
            now,
        };
        match self.call(op).await? {
            Reply::Settled(settled) => Ok(settled),
            _ => Err(StoreError::Corrupt("writer: mismatched reply".into())),
        }
    }

    async fn call(&self, op: Op) -> Result<Reply, StoreError> {
        if let Some(result) = self.try_inline(&op) {
            return result;
        }
        let (reply, response) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send((op, reply)).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable("sqlite writer stopped".into()));
        }
        response
            .await
            .map_err(|_| StoreError::Unavailable("sqlite writer stopped".into()))?
    }

    /// Runs the op on the calling thread when the connection is idle and the write lock free;
    /// `None` when it must go to the writer thread instead.
    fn try_inline(&self, op: &Op) -> Option<Result<Reply, StoreError>> {
        let shared = &self.shared;
        if shared.queued.load(Ordering::Relaxed) != 0 || shared.batching() || shared.growth.full() {
            return None;
        }
        let conn = shared.try_lock()?;
        match begin_unless_busy(&conn) {
            Ok(()) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => return None,
            Err(e) => return Some(Err(store_err(&e))),
        }
        Some(
            match run_and_commit(&conn, &self.shared.growth, std::iter::once(op)) {
                Ok(mut results) => results
                    .pop()
                    .unwrap_or_else(|| Err(StoreError::Corrupt("writer: no result".into()))),
                Err(e) => Err(store_err(&e)),
            },
        )
    }
}

/// A read-write rusqlite connection set up like every connection of this store (WAL,
/// no automatic checkpoint).
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// The thread's loop: until every handle is gone, take a batch and run it.
fn run(shared: &SharedConnection, rx: &mpsc::Receiver<(Op, ReplyTx)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH + 1);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() <= MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Counted as queued until answered: a caller must not slip an op in ahead of a
        // batch that is waiting for the connection, or the batch could wait indefinitely.
        let taken = batch.len();
        // Checkpoints far behind the log: let one begin before writing more.
        shared.growth.wait_for_room(BUSY_TIMEOUT);
        run_batch(&shared.lock(), &shared.growth, &mut batch);
        if taken > 1 {
            shared.batched();
        }
        shared.queued.fetch_sub(taken, Ordering::Relaxed);
    }
}

/// Runs a batch in one transaction and answers every op after the commit.
fn run_batch(conn: &Connection, growth: &LogGrowth, batch: &mut Vec<(Op, ReplyTx)>) {
    let outcome = exec(conn, "BEGIN IMMEDIATE")
        .and_then(|()| run_and_commit(conn, growth, batch.iter().map(|(op, _)| op)));
    match outcome {
        Ok(results) => {
            for ((_, reply), result) in batch.drain(..).zip(results) {
                // The caller may have gone away (client disconnected); the work is committed.
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(store_err(&e)));
            }
        }
    }
}

/// `BEGIN IMMEDIATE` without waiting: busy when another connection holds the write lock.
fn begin_unless_busy(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::ZERO)?;
    let began = exec(conn, "BEGIN IMMEDIATE");
    conn.busy_timeout(BUSY_TIMEOUT)?;
    began
}

/// Runs ops in the open transaction and commits it: one result per op, or the error that
/// undid them all (the transaction is then rolled back). A lone op needs no savepoint: when it
/// fails, its whole transaction is rolled back instead, and its error is its result.
fn run_and_commit<'a>(
    conn: &Connection,
    growth: &LogGrowth,
    ops: impl ExactSizeIterator<Item = &'a Op>,
) -> rusqlite::Result<Vec<Result<Reply, StoreError>>> {
    let isolated = ops.len() > 1;
    let outcome = ops
        .map(|op| run_op(conn, op, isolated))
        .collect::<rusqlite::Result<Vec<_>>>()
        .and_then(|results| {
            if !isolated && results.iter().any(Result::is_err) {
                rollback(conn);
                return Ok(results);
            }
            // A transaction SQLite already rolled back (I/O error, full disk) leaves
            // nothing safe to commit.
            if conn.is_autocommit() {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                    Some("transaction rolled back by SQLite".into()),
                ));
            }
            exec(conn, "COMMIT")?;
            growth.committed(results.len());
            Ok(results)
        });
    if outcome.is_err() {
        rollback(conn);
    }
    outcome
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Runs one op, in its own savepoint when `isolated` (it shares its transaction with others).
/// The outer error means the savepoint could not be undone and the whole batch must be
/// abandoned; the inner one belongs to this op alone.
fn run_op(
    conn: &Connection,
    op: &Op,
    isolated: bool,
) -> rusqlite::Result<Result<Reply, StoreError>> {
    if isolated {
        exec(conn, "SAVEPOINT op")?;
    }
    let result = match op {
        Op::Reserve {
            usage,
            estimate_ms,
            lease_until,
            now,
        } => reserve(conn, usage, *estimate_ms, lease_until, now),
        Op::Settle {
            usage_id,
            settlement,
            now,
        } => settle(conn, usage_id, settlement, now),
    };
    if isolated {
        match result {
            Ok(Reply::NeedsSlowPath) | Err(_) => {
                exec(conn, "ROLLBACK TO op")?;
                exec(conn, "RELEASE op")?;
            }
            Ok(_) => exec(conn, "RELEASE op")?,
        }
    }
    Ok(result.map_err(|e| store_err(&e)))
}

fn reserve(
    conn: &Connection,
    usage: &UsageContext,
    estimate_ms: i64,
    lease_until: &DateTime<Utc>,
    now: &DateTime<Utc>,
) -> rusqlite::Result<Reply> {
    let created_ns = unix_nanos(now);
    let now = timestamp(now);
    let reserved =
        conn.prepare_cached(RESERVE_FAST)?
            .execute(params![estimate_ms, usage.user_id, now])?;
    if reserved != 1 {
        return Ok(Reply::NeedsSlowPath);
    }
    conn.prepare_cached(super::metering::INSERT_USAGE)?
        .execute(params![
            usage.id,
            usage.user_id,
            usage.key_id,
            usage.voice_id,
            usage.request_id,
            usage.endpoint,
            usage.engine,
            usage.model_used,
            usage.text_length,
            UsageStatus::Pending.as_str(),
            estimate_ms,
            0_i64,
            None::<&str>,
            None::<&str>,
            timestamp(lease_until),
            now,
            None::<&str>,
            created_ns,
        ])?;
    Ok(Reply::Reserved)
}

fn settle(
    conn: &Connection,
    usage_id: &str,
    settlement: &Settlement,
    now: &DateTime<Utc>,
) -> rusqlite::Result<Reply> {
    // The record's own reservation bounds the bill, and a record settles exactly once.
    let row: Option<(i64, i64, i64)> = conn
        .prepare_cached(SETTLE_RECORD)?
        .query_row(
            params![
                settlement.status.as_str(),
                settlement.billed_ms,
                settlement.error_code,
                settlement.error_message,
                timestamp(now),
                usage_id,
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let applied = row.is_some();
    let remaining_ms: i64 = match row {
        Some((user_id, reserved_ms, billed_ms)) => conn
            .prepare_cached(SETTLE_USER)?
            .query_row(params![reserved_ms, billed_ms, user_id], |r| r.get(0))?,
        // Not found maps to `StoreError::NotFound`.
        None => conn
            .prepare_cached(REMAINING)?
            .query_row(params![usage_id], |r| r.get(0))?,
    };
    Ok(Reply::Settled(Settled {
        applied,
        remaining_ms,
    }))
}

/// Maps a rusqlite error onto the store's errors, as `db_err` does for sqlx.
/// A rusqlite error as the store reports it.
pub(super) fn store_err(e: &rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            match f.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => StoreError::Conflict("unique"),
                _ => StoreError::Conflict("constraint"),
            }
        }
        // Busy, locked, I/O and everything else: the database is not usable right now.
        _ => StoreError::Unavailable(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::Connection as _;

    #[tokio::test]
    async fn timestamps_match_sqlx_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ts.db");
        let mut sqlx_conn = sqlx::SqliteConnection::connect_with(
            &SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        sqlx::query("CREATE TABLE t (src TEXT, n INTEGER, at TEXT)")
            .execute(&mut sqlx_conn)
            .await
            .unwrap();
        let instants = [
            Utc::now(),
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 120_000_000).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap(),
        ];
        let rusqlite_conn = Connection::open(&path).unwrap();
        for (n, at) in instants.iter().enumerate() {
            sqlx::query("INSERT INTO t VALUES ('sqlx', ?, ?)")
                .bind(n as i64)
                .bind(*at)
                .execute(&mut sqlx_conn)
                .await
                .unwrap();
            rusqlite_conn
                .execute(
                    "INSERT INTO t VALUES ('writer', ?1, ?2)",
                    params![n as i64, timestamp(at)],
                )
                .unwrap();
        }
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT a.at, b.at, typeof(b.at) FROM t a JOIN t b ON a.n = b.n AND a.src = 'sqlx' AND b.src = 'writer' ORDER BY a.n",
        )
        .fetch_all(&mut sqlx_conn)
        .await
        .unwrap();
        assert_eq!(rows.len(), instants.len());
        for (from_sqlx, from_writer, kind) in rows {
            assert_eq!(kind, "text");
            assert_eq!(from_sqlx.as_bytes(), from_writer.as_bytes());
        }
    }
}
