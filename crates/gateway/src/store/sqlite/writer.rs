//! Every SQLite write, on one connection: inline on the caller's thread when the connection
//! is idle, with group commit on the writer thread under load.
//!
//! The connection sits behind a mutex. A caller that finds it free, nobody queued and no
//! batch of several writes run lately (no concurrent writes) runs its write right there, in
//! a transaction of its own: a lone request pays no thread hand-off at all. Otherwise the
//! caller sends the write to the writer thread through a channel and awaits a oneshot
//! reply. The thread takes the first waiting write, drains up to [`MAX_BATCH`] more without
//! blocking, and runs them all in one `BEGIN IMMEDIATE … COMMIT` (group commit), each inside
//! its own savepoint so that one failing write leaves the others intact. Either way, an
//! answer comes only after the commit succeeded: nobody learns of a write that could still
//! be lost.
//!
//! A caller never waits on a lock: it only *tries* the mutex, and runs its `BEGIN` with no
//! busy timeout, falling back to the queue when another connection holds the write lock.
//! With `synchronous = NORMAL` the commit appends to the log without an fsync (only the
//! commit that starts the log over after a checkpoint syncs its header), so the caller's
//! worker thread is held for tens of microseconds; with `FULL`, each commit waits for one
//! flush of the log.
//!
//! The batch and its savepoints are in `batch.rs`. The thread reports to its [`Heartbeat`]
//! while it waits and while it works, and ends when the last [`Writer`] handle is dropped
//! (the channel closes).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};
use tokio::sync::oneshot;

use super::batch::{begin_unless_busy, commit, rollback, run_batch, Job, Queued};
use super::checkpoint::LogGrowth;
use super::connection::{store_err, BUSY_TIMEOUT};
use crate::runtime::supervision::Heartbeat;
use crate::store::StoreError;

/// Writes drained after the first one into a single transaction, at most.
const MAX_BATCH: usize = 256;

/// How long after the writer thread's last batch callers still queue their writes.
const BATCHING_QUIET: Duration = Duration::from_millis(5);

/// How often the idle writer thread tells its heartbeat it is alive.
const IDLE_BEAT: Duration = Duration::from_secs(1);

/// The connection and what callers need to decide whether to use it themselves.
struct SharedConnection {
    conn: Mutex<Connection>,
    /// Writes sent to the thread and not yet answered; a caller runs inline only at zero,
    /// so queued writes are never overtaken.
    queued: AtomicUsize,
    /// Until when (µs since `started`) callers leave writes to the thread, because it ran a
    /// batch of several writes lately: while writes are concurrent, they group-commit
    /// rather than each paying a commit of its own on a worker thread.
    batching_until: AtomicU64,
    started: Instant,
    /// Told of every commit, to call a checkpoint when the log is long.
    growth: Arc<LogGrowth>,
}

/// Handle to the writer; clones share the connection and the thread.
#[derive(Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
    shared: Arc<SharedConnection>,
}

/// Holds the writer's connection: no write runs while it lives. The checkpoint thread takes
/// it to complete a checkpoint that no write can race.
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

    /// Whether the thread ran a batch of several writes within the last [`BATCHING_QUIET`].
    fn batching(&self) -> bool {
        self.micros() < self.batching_until.load(Ordering::Relaxed)
    }

    /// Notes that the thread just ran a batch of several writes.
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
    /// Takes `conn` (opened for writing) and starts the thread, which beats `heartbeat`.
    pub(super) fn start(
        conn: Connection,
        growth: Arc<LogGrowth>,
        heartbeat: Heartbeat,
    ) -> Result<Writer, StoreError> {
        let shared = Arc::new(SharedConnection {
            conn: Mutex::new(conn),
            queued: AtomicUsize::new(0),
            batching_until: AtomicU64::new(0),
            started: Instant::now(),
            growth,
        });
        let (tx, rx) = mpsc::channel();
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || heartbeat.run_thread(|beat| run(&thread_shared, &rx, beat)))
            .map_err(|e| StoreError::Unavailable(format!("sqlite writer thread: {e}")))?;
        Ok(Writer { tx, shared })
    }

    /// A handle that can pause writes (see [`WritesPaused`]).
    pub(super) fn pause_handle(&self) -> PauseHandle {
        PauseHandle(self.shared.clone())
    }

    /// Whether a caller holds the connection or writes wait for the thread, for the pool
    /// gauge.
    pub(super) fn busy(&self) -> bool {
        self.shared.queued.load(Ordering::Relaxed) > 0 || self.shared.conn.try_lock().is_err()
    }

    /// Runs `write` in a write transaction, committed when it returns `Ok`: inline when the
    /// connection is idle, else on the writer thread.
    pub(super) async fn run<T, W>(&self, write: W) -> Result<T, StoreError>
    where
        T: Send + 'static,
        W: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let write = match self.try_inline(write) {
            Ok(result) => return result,
            Err(write) => write,
        };
        let (reply, response) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Queued { write, reply });
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(job).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable("sqlite writer stopped".into()));
        }
        // No answer: the write panicked (and was rolled back) or the thread is gone.
        response
            .await
            .map_err(|_| StoreError::Unavailable("the sqlite write was abandoned".into()))?
    }

    /// Runs the write on the calling thread when the connection is idle and the write lock
    /// free; gives it back when it must go to the writer thread instead.
    fn try_inline<T, W>(&self, write: W) -> Result<Result<T, StoreError>, W>
    where
        W: FnOnce(&mut Connection) -> Result<T, StoreError>,
    {
        let shared = &self.shared;
        if shared.queued.load(Ordering::Relaxed) != 0 || shared.batching() || shared.growth.full() {
            return Err(write);
        }
        let Some(mut conn) = shared.try_lock() else {
            return Err(write);
        };
        match begin_unless_busy(&conn) {
            Ok(()) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => return Err(write),
            Err(e) => return Ok(Err(store_err(&e))),
        }
        // A lone write needs no savepoint: when it fails, its whole transaction is undone.
        let result = write(&mut conn);
        if result.is_err() {
            rollback(&conn);
            return Ok(result);
        }
        Ok(commit(&conn, &shared.growth, 1).and(result))
    }
}

/// The thread's loop: until every handle is gone, take a batch and run it.
fn run(shared: &SharedConnection, rx: &mpsc::Receiver<Box<dyn Job>>, beat: &dyn Fn(bool)) {
    let mut batch = Vec::with_capacity(MAX_BATCH + 1);
    loop {
        beat(false);
        match rx.recv_timeout(IDLE_BEAT) {
            Ok(first) => batch.push(first),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        beat(true);
        while batch.len() <= MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // Counted as queued until answered: a caller must not slip a write in ahead of a
        // batch that is waiting for the connection, or the batch could wait indefinitely.
        let taken = batch.len();
        // Checkpoints far behind the log: let one begin before writing more.
        shared.growth.wait_for_room(BUSY_TIMEOUT);
        run_batch(&mut shared.lock(), &shared.growth, &mut batch);
        if taken > 1 {
            shared.batched();
        }
        shared.queued.fetch_sub(taken, Ordering::Relaxed);
    }
}
