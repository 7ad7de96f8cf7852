//! WAL checkpoints off the request path.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that takes the log past 1,000
//! pages, on the committing thread, fsyncs included. A metered request writes a handful of
//! pages, so about one request in a hundred waited for the disk: that was the p99 of a
//! single client. Every connection therefore opens with `wal_autocheckpoint = 0`, and:
//!
//! - this module's thread runs a `PASSIVE` checkpoint (never blocks readers or writers) on a
//!   timer, or sooner once the metering writer has committed enough ops to have made the log
//!   long; it copies the log back into the database file and does the fsyncs;
//! - a checkpoint that races the writer never catches up with the log's end, and only a
//!   complete one lets the next write start the log over. So once the log is long, the
//!   thread pauses the metering writer (takes its connection) and runs one more checkpoint
//!   that no write can race; little is left to copy by then;
//! - a checkpoint slowed down by a busy disk or CPU must not let the writes run away from it:
//!   past [`MAX_OPS_PER_CHECKPOINT`] ops since it began, callers queue and the writer thread
//!   waits for the next one to begin. The log stays bounded.
//!
//! Once a checkpoint has copied the whole log, the next commit starts the log over and syncs
//! the log's new header. After the paused checkpoint, the thread makes that commit itself,
//! before the writer resumes, so that no request pays a second stall for the same restart.
//!
//! The thread ends (within [`INTERVAL`]) when the last [`Checkpointer`] handle is dropped.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::connection::{self, store_err, Role, Synchronous, BUSY_TIMEOUT};
use super::writer::PauseHandle;
use crate::runtime::supervision::Heartbeat;
use crate::store::StoreError;

// The sizes below are in pages: 512 bytes in a database this gateway created (see
// `connection::open`), 4 KiB in one created before it chose that size, which therefore
// logs eight times the bytes for the same counts.

/// The longest wait between two checkpoints; an idle check costs no I/O. Every checkpoint
/// syncs the log and the database file, and at a single client those flushes were the
/// largest part of the p99: this cadence with [`OPS_PER_CHECKPOINT`] and [`RESTART_PAGES`]
/// below gave a p99 of 0.80–0.89 ms against 0.91–1.03 with 50 ms, 1,000 ops and 4 MiB, in
/// interleaved runs.
pub(super) const INTERVAL: Duration = Duration::from_millis(250);

/// Metering ops committed after which a checkpoint is due before [`INTERVAL`] is up. An op
/// adds 3–6 pages to the log, so the log grows by about 10 MiB between two checkpoints,
/// however fast the writes come.
const OPS_PER_CHECKPOINT: usize = 4000;

/// Log length (pages) above which a checkpoint runs with the writer paused: 16 MiB, reached
/// only when `PASSIVE` checkpoints fall behind (at a steady single client, which writes
/// about 9 pages per request, every few thousand requests). Each pause holds one request up
/// for about a millisecond, so it must stay rare enough not to show in a single client's p99.
const RESTART_PAGES: i64 = 32768;

/// Metering ops committed since the running checkpoint began, past which the writer waits
/// for the next one to begin. Without it, a checkpoint slowed down by a busy disk lets the
/// log grow by whatever the writes add meanwhile (over 120 MB in 4 s, seen in the bound test
/// while a release build ran beside it). A single client commits about 1,000 ops between two
/// checkpoints, so only a disk that cannot keep up ever makes writes wait.
const MAX_OPS_PER_CHECKPOINT: usize = 2 * OPS_PER_CHECKPOINT;

/// Counts the metering writer's commits, calls a checkpoint when the log must be long, and
/// holds the writer back when checkpoints fall far behind.
pub(super) struct LogGrowth {
    ops: AtomicUsize,
    due: mpsc::SyncSender<()>,
    /// Ops committed since the running (or last) checkpoint began.
    since_checkpoint: AtomicUsize,
    /// Wakes a writer waiting for room when a checkpoint begins.
    room: (Mutex<()>, Condvar),
}

impl LogGrowth {
    /// The counter, and the receiver the checkpoint thread waits on.
    pub(super) fn new() -> (Arc<LogGrowth>, mpsc::Receiver<()>) {
        let (due, calls) = mpsc::sync_channel(1);
        let growth = LogGrowth {
            ops: AtomicUsize::new(0),
            due,
            since_checkpoint: AtomicUsize::new(0),
            room: (Mutex::new(()), Condvar::new()),
        };
        (Arc::new(growth), calls)
    }

    /// Notes `ops` committed ops.
    pub(super) fn committed(&self, ops: usize) {
        self.since_checkpoint.fetch_add(ops, Ordering::Relaxed);
        if self.ops.fetch_add(ops, Ordering::Relaxed) + ops >= OPS_PER_CHECKPOINT {
            self.ops.store(0, Ordering::Relaxed);
            // Full means a call is already waiting.
            let _ = self.due.try_send(());
        }
    }

    /// Whether the log has grown too far past the running checkpoint for more writes now.
    pub(super) fn full(&self) -> bool {
        self.since_checkpoint.load(Ordering::Relaxed) >= MAX_OPS_PER_CHECKPOINT
    }

    /// Waits (on the writer thread, never a caller's) until a checkpoint begins, when the log
    /// is [`full`](Self::full); at most `limit`, so writes go on if checkpoints stop.
    pub(super) fn wait_for_room(&self, limit: Duration) {
        // The usual case, once per batch: no lock, no clock.
        if !self.full() {
            return;
        }
        let deadline = Instant::now() + limit;
        let mut guard = self.room.0.lock().unwrap_or_else(PoisonError::into_inner);
        while self.full() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!("sqlite checkpoints are not keeping up; writing on regardless");
                return;
            }
            guard = match self.room.1.wait_timeout(guard, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Notes that a checkpoint begins: what was written so far is its to copy.
    fn checkpoint_begins(&self) {
        self.since_checkpoint.store(0, Ordering::Relaxed);
        let _guard = self.room.0.lock().unwrap_or_else(PoisonError::into_inner);
        self.room.1.notify_all();
    }
}

/// Keeps the checkpoint thread running while any clone is alive.
#[derive(Clone)]
pub(super) struct Checkpointer {
    _running: Arc<mpsc::Sender<()>>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to the (existing) database file; it beats
    /// `heartbeat` at every turn.
    pub(super) fn start(
        path: &Path,
        synchronous: Synchronous,
        writer: PauseHandle,
        growth: Arc<LogGrowth>,
        calls: mpsc::Receiver<()>,
        heartbeat: Heartbeat,
    ) -> Result<Checkpointer, StoreError> {
        let conn = connection::open(path, Role::Write, synchronous).map_err(|e| store_err(&e))?;
        let (running, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                heartbeat.run_thread(|beat| run(&conn, &stopped, &calls, &writer, &growth, beat))
            })
            .map_err(|e| StoreError::Unavailable(format!("sqlite checkpointer thread: {e}")))?;
        Ok(Checkpointer {
            _running: Arc::new(running),
        })
    }
}

fn run(
    conn: &Connection,
    stopped: &mpsc::Receiver<()>,
    calls: &mpsc::Receiver<()>,
    writer: &PauseHandle,
    growth: &LogGrowth,
    beat: &dyn Fn(bool),
) {
    loop {
        beat(false);
        if let Err(RecvTimeoutError::Disconnected) = calls.recv_timeout(INTERVAL) {
            return;
        }
        if let Err(TryRecvError::Disconnected) = stopped.try_recv() {
            return;
        }
        beat(true);
        growth.checkpoint_begins();
        match checkpoint(conn) {
            Ok(progress) if progress.log_pages >= RESTART_PAGES => {
                let _paused = writer.pause();
                growth.checkpoint_begins();
                match checkpoint(conn) {
                    Ok(progress) if progress.complete() => {
                        if let Err(e) = restart_log(conn) {
                            tracing::debug!(error = %e, "sqlite log not started over here");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "sqlite checkpoint with writes paused failed");
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sqlite checkpoint failed; retrying"),
        }
    }
}

/// What a checkpoint found.
struct Progress {
    /// Whether a reader or writer kept it from running to the end.
    busy: bool,
    /// The log's length in pages (-1 outside WAL mode).
    log_pages: i64,
    /// Pages of the log now copied into the database file.
    copied_pages: i64,
}

impl Progress {
    /// The whole log is in the database file: the next write may start the log over.
    fn complete(&self) -> bool {
        !self.busy && self.log_pages > 0 && self.copied_pages == self.log_pages
    }
}

/// Runs a `PASSIVE` checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Progress> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Progress {
            busy: row.get::<_, i64>(0)? != 0,
            log_pages: row.get(1)?,
            copied_pages: row.get(2)?,
        })
    })
}

/// Starts the log over, with a write of its own that changes nothing: the write that starts
/// it over syncs the log's new header, and this way it does so here, while the metering writes
/// are paused anyway, rather than in the commit of a request just after. Rewriting
/// `user_version` with its own value dirties only the database header; nothing reads it.
/// Another connection's write in progress makes it give up at once (the next commit restarts
/// the log then, as it would have anyway).
fn restart_log(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::ZERO)?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let restarted = conn.pragma_update(None, "user_version", version);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    restarted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_waits_for_a_checkpoint_once_the_log_is_far_ahead() {
        let (growth, calls) = LogGrowth::new();
        growth.committed(MAX_OPS_PER_CHECKPOINT - 1);
        assert!(!growth.full());
        assert!(
            calls.try_recv().is_ok(),
            "a checkpoint was called on the way"
        );
        growth.committed(1);
        assert!(growth.full());

        // Checkpoints that never begin hold the writer back for the limit, not forever.
        let started = Instant::now();
        growth.wait_for_room(Duration::from_millis(50));
        assert!(started.elapsed() >= Duration::from_millis(50));

        // A checkpoint that begins lets the waiting writer go at once.
        let checkpointer = {
            let growth = growth.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                growth.checkpoint_begins();
            })
        };
        let started = Instant::now();
        growth.wait_for_room(Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!growth.full());
        assert!(checkpointer.join().is_ok());
    }
}
