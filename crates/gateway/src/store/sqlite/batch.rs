//! A batch of queued writes in one transaction, each in its own savepoint, answered only
//! after the commit; and the transaction steps the inline path shares.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::LogGrowth;
use super::connection::{store_err, BUSY_TIMEOUT};
use crate::store::StoreError;

/// A write queued for the thread.
pub(super) trait Job: Send {
    /// Runs the write in the open transaction.
    fn run(self: Box<Self>, conn: &mut Connection) -> Box<dyn Answer>;
    /// Answers without running: the transaction could not begin.
    fn fail(self: Box<Self>, error: StoreError);
}

/// What a queued write did, waiting for its transaction's fate.
pub(super) trait Answer: Send {
    /// Whether it succeeded (a failed one is rolled back to its savepoint).
    fn ok(&self) -> bool;
    /// Sends the write's result, or `committed`'s error when the commit failed.
    fn send(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A write and where its answer goes.
pub(super) struct Queued<T, W> {
    pub(super) write: W,
    pub(super) reply: oneshot::Sender<Result<T, StoreError>>,
}

/// A write's result and where it goes.
struct Done<T> {
    result: Result<T, StoreError>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, W> Job for Queued<T, W>
where
    T: Send + 'static,
    W: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut Connection) -> Box<dyn Answer> {
        let Queued { write, reply } = *self;
        Box::new(Done {
            result: write(conn),
            reply,
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

impl<T: Send> Answer for Done<T> {
    fn ok(&self) -> bool {
        self.result.is_ok()
    }

    fn send(self: Box<Self>, committed: Result<(), StoreError>) {
        // The caller may have gone away (client disconnected); the work is committed.
        let _ = self.reply.send(committed.and(self.result));
    }
}

/// Runs a batch in one transaction and answers every write after the commit.
pub(super) fn run_batch(conn: &mut Connection, growth: &LogGrowth, batch: &mut Vec<Box<dyn Job>>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let error = store_err(&e);
        tracing::warn!(error = %error, "sqlite writer could not begin a transaction");
        for job in batch.drain(..) {
            job.fail(StoreError::Unavailable(error.to_string()));
        }
        return;
    }
    let isolated = batch.len() > 1;
    let mut answers = Vec::with_capacity(batch.len());
    let mut jobs = batch.drain(..);
    while let Some(job) = jobs.next() {
        match run_job(conn, job, isolated) {
            Ok(Some(answer)) => answers.push(answer),
            // Panicked: its caller hears that it was abandoned; the others go on.
            Ok(None) => {}
            // The savepoint could not be undone: abandon the whole batch.
            Err(e) => {
                rollback(conn);
                let error = store_err(&e).to_string();
                for answer in answers {
                    answer.send(Err(StoreError::Unavailable(error.clone())));
                }
                for job in jobs {
                    job.fail(StoreError::Unavailable(error.clone()));
                }
                return;
            }
        }
    }
    if !isolated && answers.iter().any(|answer| !answer.ok()) {
        // A lone failed write: its transaction is undone and its error is its answer.
        rollback(conn);
        for answer in answers {
            answer.send(Ok(()));
        }
        return;
    }
    let committed = commit(conn, growth, answers.len());
    for answer in answers {
        let outcome = match &committed {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        };
        answer.send(outcome);
    }
}

/// Runs one write, in its own savepoint when `isolated` (it shares its transaction with
/// others). A write that panics is rolled back to its savepoint (or, alone, with its
/// transaction) and has no answer. The error means the savepoint could not be undone and the
/// whole batch must be abandoned.
fn run_job(
    conn: &mut Connection,
    job: Box<dyn Job>,
    isolated: bool,
) -> rusqlite::Result<Option<Box<dyn Answer>>> {
    if isolated {
        exec(conn, "SAVEPOINT op")?;
    }
    let answer = match catch_unwind(AssertUnwindSafe(|| job.run(conn))) {
        Ok(answer) => Some(answer),
        Err(_) => {
            tracing::error!("an sqlite write panicked; it was rolled back");
            None
        }
    };
    let ok = answer.as_ref().is_some_and(|answer| answer.ok());
    if isolated {
        if !ok {
            exec(conn, "ROLLBACK TO op")?;
        }
        exec(conn, "RELEASE op")?;
    } else if answer.is_none() {
        rollback(conn);
    }
    Ok(answer)
}

/// `BEGIN IMMEDIATE` without waiting: busy when another connection holds the write lock.
pub(super) fn begin_unless_busy(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::ZERO)?;
    let began = exec(conn, "BEGIN IMMEDIATE");
    conn.busy_timeout(BUSY_TIMEOUT)?;
    began
}

/// Commits the open transaction of `writes` writes. A transaction SQLite already rolled
/// back (I/O error, full disk) leaves nothing safe to commit.
pub(super) fn commit(
    conn: &Connection,
    growth: &LogGrowth,
    writes: usize,
) -> Result<(), StoreError> {
    if conn.is_autocommit() {
        return Err(StoreError::Unavailable(
            "the transaction was rolled back by SQLite".into(),
        ));
    }
    match exec(conn, "COMMIT") {
        Ok(()) => {
            growth.committed(writes);
            Ok(())
        }
        Err(e) => {
            rollback(conn);
            Err(store_err(&e))
        }
    }
}

pub(super) fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}
