//! Connections of their own for the two statements of every synthesis: the reservation and
//! the settlement.
//!
//! sqlx's pool checks each connection it takes back with a round trip to the server, from a
//! task it spawns for the purpose. On the metering path that is two extra round trips per
//! request, landing on the server and on a second worker in the middle of the request: on a
//! small machine they cost the request itself about 0.15 ms, and more at p99. Here a
//! connection that completed its statement goes straight back on a stack, since it is known
//! to be good; one that failed, or whose statement was abandoned half-way, is closed instead
//! of reused. One idle long enough for the server or a middlebox to have dropped it is
//! pinged before use, as the pool does.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{
    PgConnectOptions, PgConnection, PgDatabaseError, PgPool, PgSeverity, Postgres,
};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::connection::{connect_err, db_err};
use super::gate::Gate;
use super::PING_AFTER_IDLE;
use crate::store::{PoolStats, StoreError};

/// Where the metering statements run.
pub(super) enum MeteringConnections {
    /// On a stack of connections of their own.
    Own(Box<Stack>),
    /// On the shared pool, when the connection budget is too small to split.
    Shared(PgPool, Arc<Gate>),
}

/// Open connections, reused last-in first-out, and the budget for them.
pub(super) struct Stack {
    options: PgConnectOptions,
    idle: Mutex<Vec<Idle>>,
    permits: Semaphore,
    size: u32,
    acquire_timeout: Duration,
    /// Told when a connection cannot be made.
    gate: Arc<Gate>,
}

struct Idle {
    conn: PgConnection,
    since: Instant,
}

impl MeteringConnections {
    /// `size` connections of their own, or the shared `pool` when `size` is zero.
    pub(super) fn new(
        options: PgConnectOptions,
        size: u32,
        acquire_timeout: Duration,
        pool: PgPool,
        gate: Arc<Gate>,
    ) -> MeteringConnections {
        if size == 0 {
            return MeteringConnections::Shared(pool, gate);
        }
        MeteringConnections::Own(Box::new(Stack {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(size as usize),
            size,
            acquire_timeout,
            gate,
        }))
    }

    /// A connection for one statement; hand the statement's result to
    /// [`MeteringConnection::finish`]. Dropped unfinished (the statement was abandoned), it is
    /// closed.
    pub(super) async fn take(&self) -> Result<MeteringConnection<'_>, StoreError> {
        match self {
            MeteringConnections::Shared(pool, gate) => {
                let conn = pool.acquire().await;
                gate.connected(&conn);
                Ok(MeteringConnection::Shared(conn.map_err(connect_err)?))
            }
            MeteringConnections::Own(stack) => stack.take().await,
        }
    }

    /// In use and idle connections, for the pool gauge; `None` when the pool is shared.
    pub(super) fn stats(&self) -> Option<PoolStats> {
        let MeteringConnections::Own(stack) = self else {
            return None;
        };
        let idle = stack.idle.lock().map_or(0, |idle| idle.len());
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        let taken = u32::try_from(stack.permits.available_permits())
            .map_or(0, |free| stack.size.saturating_sub(free));
        Some(PoolStats {
            name: "metering",
            in_use: taken,
            idle,
        })
    }

    /// Closes every idle connection and refuses new ones; a statement still running closes
    /// its connection when it ends.
    pub(super) async fn close(&self) {
        let MeteringConnections::Own(stack) = self else {
            return;
        };
        stack.permits.close();
        let idle = match stack.idle.lock() {
            Ok(mut idle) => std::mem::take(&mut *idle),
            Err(_) => Vec::new(),
        };
        for Idle { conn, .. } in idle {
            let _ = conn.close().await;
        }
    }
}

impl Stack {
    async fn take(&self) -> Result<MeteringConnection<'_>, StoreError> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| {
                StoreError::Unavailable(
                    "timed out waiting for a free metering connection to the database".into(),
                )
            })?
            .map_err(|_| StoreError::Unavailable("the database connections are closed".into()))?;
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match reused {
            Some(idle)
                if idle.since.elapsed() < PING_AFTER_IDLE
                    && !self.gate.predates_last_outage(idle.since) =>
            {
                idle.conn
            }
            Some(mut idle) => match idle.conn.ping().await {
                Ok(()) => idle.conn,
                Err(_) => self.connect().await?,
            },
            None => self.connect().await?,
        };
        Ok(MeteringConnection::Own {
            conn,
            stack: self,
            permit,
        })
    }

    async fn connect(&self) -> Result<PgConnection, StoreError> {
        let connected = tokio::time::timeout(self.acquire_timeout, self.options.connect())
            .await
            .map_err(|_| StoreError::Unavailable("timed out connecting to the database".into()))
            .and_then(|connected| connected.map_err(connect_err));
        self.gate.connected(&connected);
        connected
    }

    fn put_back(&self, conn: PgConnection) {
        if self.permits.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    fn forget_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// A connection taken for one statement.
pub(super) enum MeteringConnection<'a> {
    /// From the stack; the permit is given back after the connection.
    Own {
        conn: PgConnection,
        stack: &'a Stack,
        permit: SemaphorePermit<'a>,
    },
    /// From the shared pool, which takes it back when it is dropped.
    Shared(PoolConnection<Postgres>),
}

impl MeteringConnection<'_> {
    /// The connection to run the statement on.
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        match self {
            MeteringConnection::Own { conn, .. } => conn,
            MeteringConnection::Shared(conn) => conn,
        }
    }

    /// Ends the statement: a connection that ran it keeps serving; one that failed is closed,
    /// and one that lost its session (the server went away or ended it, a network fault)
    /// takes every idle connection with it, as they are likely dead too: only this request
    /// gets the error, not one request per stale connection.
    pub(super) fn finish<T>(self, result: Result<T, sqlx::Error>) -> Result<T, StoreError> {
        let MeteringConnection::Own {
            conn,
            stack,
            permit,
        } = self
        else {
            return result.map_err(db_err);
        };
        match result {
            Ok(value) => {
                stack.put_back(conn);
                drop(permit);
                Ok(value)
            }
            Err(error) => {
                if connection_lost(&error) {
                    stack.forget_idle();
                }
                Err(db_err(error))
            }
        }
    }
}

/// Whether an error ended the session rather than the statement: anything below SQL, or a
/// server error of severity FATAL or PANIC (such as an administrator's or a shutdown's
/// termination, which a terminated idle connection reports on its next use).
fn connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => e
            .try_downcast_ref::<PgDatabaseError>()
            .is_some_and(|e| matches!(e.severity(), PgSeverity::Fatal | PgSeverity::Panic)),
        _ => true,
    }
}
