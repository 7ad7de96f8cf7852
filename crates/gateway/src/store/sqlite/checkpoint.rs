//! WAL checkpoints off the request path.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that takes the log past 1,000
//! pages, on the committing thread, fsyncs included. A metered request writes a handful of
//! pages, so about one request in a hundred waited for the disk: that was the p99 of a
//! single client. Every connection therefore opens with `wal_autocheckpoint = 0`, and:
//!
//! - this module's thread runs a `PASSIVE` checkpoint (never blocks readers or writers) on a
//!   timer, which copies the log back into the database file and does the fsyncs;
//! - a checkpoint that races the writer never catches up with the log's end, and only a
//!   complete one lets the next write start the log over. So once the log is long, the
//!   thread asks the writer thread to run one more checkpoint between two batches, where no
//!   write can race it; little is left to copy by then. The log stays bounded.
//!
//! The thread ends when the last [`Checkpointer`] handle is dropped.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// How often the log is copied back into the database file. At full speed the writer adds
/// about 1,500 pages (6 MiB) to the log in this time; an idle check costs no I/O.
const INTERVAL: Duration = Duration::from_millis(50);

/// Log length (pages) above which the writer is asked to complete a checkpoint: 8 MiB at
/// the default 4 KiB page size.
const RESTART_PAGES: i64 = 2048;

/// Set by the checkpoint thread, taken by the writer thread between batches.
#[derive(Default)]
pub(super) struct RestartWanted(AtomicBool);

impl RestartWanted {
    /// Whether a complete checkpoint was asked for since the last call.
    pub(super) fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }

    fn ask(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Completes a checkpoint on the writer's connection, between two batches: nothing races it
/// there, unless the checkpoint thread is at work, in which case the writer tries again
/// after its next batch.
pub(super) fn complete(conn: &Connection, restart: &RestartWanted) {
    match checkpoint(conn) {
        Ok(Progress { busy: false, .. }) => {}
        Ok(Progress { busy: true, .. }) => restart.ask(),
        Err(e) => {
            restart.ask();
            tracing::warn!(error = %e, "sqlite checkpoint on the writer failed");
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
        restart: Arc<RestartWanted>,
    ) -> Result<Checkpointer, StoreError> {
        let conn = super::writer::open(path).map_err(|e| super::writer::store_err(&e))?;
        let (running, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stopped, &restart))
            .map_err(|e| StoreError::Unavailable(format!("sqlite checkpointer thread: {e}")))?;
        Ok(Checkpointer {
            _running: Arc::new(running),
        })
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>, restart: &RestartWanted) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        match checkpoint(conn) {
            Ok(progress) if progress.log_pages >= RESTART_PAGES => restart.ask(),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sqlite checkpoint failed; retrying"),
        }
    }
}

/// What a checkpoint found.
struct Progress {
    /// Another connection was checkpointing; nothing was done.
    busy: bool,
    /// The log's length in pages (-1 outside WAL mode).
    log_pages: i64,
}

/// Runs a `PASSIVE` checkpoint.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Progress> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Progress {
            busy: row.get::<_, i64>(0)? != 0,
            log_pages: row.get(1)?,
        })
    })
}
