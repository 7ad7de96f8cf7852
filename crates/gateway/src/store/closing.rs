//! Closing an sqlx pool with every connection it has.
//!
//! sqlx 0.8's `Pool::close` can return with a connection still open (sqlx issue #3217, fixed
//! after 0.8.6). A dropped `PoolConnection` goes back to its pool from a task of its own,
//! which pings it first, so at shutdown the connection of the last query is often still on
//! its way back. `close` can finish its last look at the idle queue before the connection
//! reaches it; once there, nothing closes it, and the process exits with the session open:
//! PostgreSQL then logs a reset connection and counts the session as abandoned.

use std::time::Duration;

use sqlx::{Database, Pool};

/// How long [`close_pool`] may take in all, connections still in use or on their way back
/// included: a shutdown never hangs on it.
const STRAGGLER_WAIT: Duration = Duration::from_secs(5);

/// Closes `pool`, again while connections are left: each time, those that reached its idle
/// queue during the last close.
pub(crate) async fn close_pool<DB: Database>(pool: &Pool<DB>) {
    let closed = async {
        loop {
            pool.close().await;
            if pool.size() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    if tokio::time::timeout(STRAGGLER_WAIT, closed).await.is_err() {
        tracing::warn!(
            open = pool.size(),
            "database connections still open after closing the pool"
        );
    }
}
