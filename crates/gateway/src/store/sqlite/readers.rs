//! Read-only connections, one per read at a time, up to `ODEADEV_DB_MAX_CONNECTIONS` at
//! once. In WAL mode a reader sees the last committed snapshot and never waits on the writer.
//!
//! Listings and totals run on a blocking thread, so a read over many rows never holds an
//! async worker. The request path's point lookups (its key, its voice) run right on the
//! calling thread instead: a lookup on a unique index over pages in memory takes
//! microseconds, less than a hand-off to another thread and back.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::connection::{self, run_on, store_err, Role, Synchronous};
use crate::store::sql::backend::Work;
use crate::store::StoreError;

/// How long a read waits for one of the connections.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The read-only connections.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    size: usize,
}

/// A reader taken for one read; given back when dropped.
pub(super) struct Lease {
    conn: Option<Connection>,
    readers: Arc<Readers>,
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    /// The connection.
    pub(super) fn conn(&mut self) -> Result<&mut Connection, StoreError> {
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("the reader was given back".into()))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers.give_back(conn);
        }
    }
}

impl Readers {
    /// Opens the first connection now, so a bad path fails at start-up.
    pub(super) fn open(path: &Path, size: u32) -> Result<Arc<Readers>, StoreError> {
        let size = usize::try_from(size.max(1)).unwrap_or(1);
        let readers = Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size)),
            size,
        };
        let first = readers.connect()?;
        readers.give_back(first);
        Ok(Arc::new(readers))
    }

    /// A reader, waiting (bounded) for one to be free.
    pub(super) async fn lease(self: &Arc<Self>) -> Result<Lease, StoreError> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Unavailable("timed out waiting for a database reader".into()))?
            .map_err(|_| StoreError::Unavailable("the database is closed".into()))?;
        let conn = match self.idle().pop() {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(Lease {
            conn: Some(conn),
            readers: self.clone(),
            _permit: permit,
        })
    }

    /// Runs `work` on a reader, on the calling thread.
    pub(super) async fn inline<T>(self: &Arc<Self>, work: Work<T>) -> Result<T, StoreError> {
        let mut lease = self.lease().await?;
        run_on(lease.conn()?, work)
    }

    /// Runs `work` on a reader, on a blocking thread.
    pub(super) async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: Work<T>,
    ) -> Result<T, StoreError> {
        let mut lease = self.lease().await?;
        tokio::task::spawn_blocking(move || run_on(lease.conn()?, work))
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite read task: {e}")))?
    }

    /// Readers in use and idle, for the pool gauge.
    pub(super) fn stats(&self) -> (u32, u32) {
        let idle = self.idle().len();
        let in_use = self.size.saturating_sub(self.permits.available_permits());
        (
            u32::try_from(in_use).unwrap_or(u32::MAX),
            u32::try_from(idle).unwrap_or(u32::MAX),
        )
    }

    /// Closes the idle connections and refuses new reads; a read in progress closes its
    /// connection when it ends.
    pub(super) fn close(&self) {
        self.permits.close();
        self.idle().clear();
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn give_back(&self, conn: Connection) {
        if self.permits.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < self.size {
            idle.push(conn);
        }
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        // Readers leave the journal and sync modes to the writer.
        connection::open(&self.path, Role::Read, Synchronous::Normal).map_err(|e| store_err(&e))
    }
}
