//! The seam between the shared operations and a database: how a backend runs an operation
//! (in a write transaction, or on a reader), and the few operations each backend writes in
//! its own SQL because that is where its speed comes from (the metering hot path) or where
//! the dialects really differ (reports).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::Conn;
use crate::store::reports::{UsageReportQuery, UsageReportRow};
use crate::store::{Reservation, Settled, Settlement, StoreError, UsageContext};

/// An operation to run on a connection: a closure that borrows the connection for the life
/// of the future it returns.
pub(crate) type Work<T> =
    Box<dyn for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send>;

/// A database the shared store runs on.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Runs `work` in one write transaction, committed when it returns `Ok` and rolled back
    /// otherwise. Its answer comes only after the commit succeeded.
    async fn write<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError>;

    /// Runs `work` on a connection for reading.
    async fn read<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError>;

    /// Runs a point lookup of the request path (a key, a voice): like [`Backend::read`], but
    /// a backend may run it on the calling thread when that is cheaper than a hand-off.
    async fn lookup<T: Send + 'static>(&self, work: Work<T>) -> Result<T, StoreError> {
        self.read(work).await
    }

    /// Reserves `estimate_ms` and writes the pending record, or the refusal; see
    /// `Store::reserve`.
    async fn reserve(
        &self,
        usage: &UsageContext,
        estimate_ms: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<Reservation, StoreError>;

    /// Settles a pending record exactly once; see `Store::settle`.
    async fn settle(&self, usage_id: &str, settlement: Settlement) -> Result<Settled, StoreError>;

    /// Usage per user per period, streamed; see `Store::usage_report`.
    fn usage_report(
        &self,
        query: &UsageReportQuery,
    ) -> BoxStream<'static, Result<UsageReportRow, StoreError>>;
}
