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
//!   that no write can race; little is left to copy by then. The log stays bounded.
//!
//! Once a checkpoint has copied the whole log, the next commit starts the log over and syncs
//! the log's new header, on a request's path: at a steady single client, about one request
//! in a hundred.
//!
//! The thread ends (within [`INTERVAL`]) when the last [`Checkpointer`] handle is dropped.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use super::writer::PauseHandle;
use crate::store::StoreError;

/// The longest wait between two checkpoints; an idle check costs no I/O. Longer waits gave a
/// single client fewer log restarts, but let the log outrun checkpoints on a loaded machine.
const INTERVAL: Duration = Duration::from_millis(50);

/// Metering ops committed after which a checkpoint is due before [`INTERVAL`] is up. An op
/// adds 3–6 pages to the log, so the log grows by about 20 MiB between two checkpoints,
/// however fast the writes come.
const OPS_PER_CHECKPOINT: usize = 1000;

/// Log length (pages) above which a checkpoint runs with the writer paused: 8 MiB at the
/// default 4 KiB page size, reached only when `PASSIVE` checkpoints fall behind.
const RESTART_PAGES: i64 = 2048;

/// Counts the metering writer's commits and calls a checkpoint when the log must be long.
pub(super) struct LogGrowth {
    ops: AtomicUsize,
    due: mpsc::SyncSender<()>,
}

impl LogGrowth {
    /// The counter, and the receiver the checkpoint thread waits on.
    pub(super) fn new() -> (Arc<LogGrowth>, mpsc::Receiver<()>) {
        let (due, calls) = mpsc::sync_channel(1);
        let growth = LogGrowth {
            ops: AtomicUsize::new(0),
            due,
        };
        (Arc::new(growth), calls)
    }

    /// Notes `ops` committed ops.
    pub(super) fn committed(&self, ops: usize) {
        if self.ops.fetch_add(ops, Ordering::Relaxed) + ops >= OPS_PER_CHECKPOINT {
            self.ops.store(0, Ordering::Relaxed);
            // Full means a call is already waiting.
            let _ = self.due.try_send(());
        }
    }
}

/// Keeps the checkpoint thread running while any clone is alive.
#[derive(Clone)]
pub(super) struct Checkpointer {
    _running: Arc<mpsc::Sender<()>>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to the (existing) database file.
    pub(super) fn start(
        path: &Path,
        writer: PauseHandle,
        calls: mpsc::Receiver<()>,
    ) -> Result<Checkpointer, StoreError> {
        let conn = super::writer::open(path).map_err(|e| super::writer::store_err(&e))?;
        let (running, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stopped, &calls, &writer))
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
) {
    loop {
        if let Err(RecvTimeoutError::Disconnected) = calls.recv_timeout(INTERVAL) {
            return;
        }
        if let Err(TryRecvError::Disconnected) = stopped.try_recv() {
            return;
        }
        match checkpoint(conn) {
            Ok(progress) if progress.log_pages >= RESTART_PAGES => {
                let _paused = writer.pause();
                if let Err(e) = checkpoint(conn) {
                    tracing::warn!(error = %e, "sqlite checkpoint with writes paused failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sqlite checkpoint failed; retrying"),
        }
    }
}

/// What a checkpoint found.
struct Progress {
    /// The log's length in pages (-1 outside WAL mode).
    log_pages: i64,
}

/// Runs a `PASSIVE` checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Progress> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Progress {
            log_pages: row.get(1)?,
        })
    })
}
