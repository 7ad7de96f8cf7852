//! PostgreSQL's metering hot path: the reservation's usual case and the settlement, one
//! statement each (one round trip, no `BEGIN`/`COMMIT`), on connections of their own (see
//! `metering_connections.rs`). The reservation's other cases take the shared full path
//! (`sql::metering::reserve`) in a transaction.
//!
//! Every balance change is a relative, conditional `UPDATE` on the user's row, so concurrent
//! requests on any number of nodes serialise on that row lock and re-check the condition
//! against the committed values (READ COMMITTED re-evaluates the `WHERE` of a blocked update).

use chrono::{DateTime, Utc};

use super::connection::{execute_raw, for_each_raw};
use super::gate::Gate;
use super::metering_connections::MeteringConnections;
use crate::store::sql::usage::{bind_usage, usage_columns, usage_values, Outcome};
use crate::store::sql::{get, Dialect, Query};
use crate::store::{Settled, Settlement, StoreError, UsageContext};

/// The common case of a reservation in one statement: the conditional update of the user's
/// balance and the pending record's insert, which happens only when the update did. Anything
/// else (a cycle that ended, a short quota, an inactive user) inserts nothing and takes the
/// full path. Bound like every usage record (`bind_usage`): `$11` is the reservation and `$16`
/// the moment of the request.
///
/// Its commit does not wait for the WAL flush (`synchronous_commit = off` for this
/// transaction alone): the reservation is atomic and visible to every node at once, and is
/// on disk within the WAL writer's delay, or at the latest with the request's own settlement,
/// whose synchronous commit flushes the log up to it. A database crash in between loses the
/// reservation, never a bill: the settlement then finds no record and writes it settled
/// (`Store::settle_unreserved`). What this buys is one disk flush less per request, and none
/// before a stream's first byte.
const RESERVE_FAST: &str = concat!(
    "WITH reserved AS (UPDATE users SET reserved_ms = reserved_ms + $11 WHERE id = $2 AND is_active AND used_ms + reserved_ms + $11 <= quota_ms AND cycle_ends_at > $16 RETURNING id) ",
    "INSERT INTO usage_records (",
    usage_columns!(),
    ") SELECT ",
    usage_values!(),
    " FROM reserved, (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed_commit"
);

/// Settlement in one statement: the record's exactly-once update and the user's billing,
/// which happens only when the record was still pending. No row: settled already.
const SETTLE: &str = "WITH settled AS (UPDATE usage_records SET status = $1, audio_ms = LEAST(GREATEST($2, 0), reserved_ms), error_code = $3, error_message = $4, settled_at = $5, lease_expires_at = NULL WHERE id = $6 AND status = 'pending' RETURNING user_id, reserved_ms, audio_ms), billed AS (UPDATE users u SET reserved_ms = u.reserved_ms - s.reserved_ms, used_ms = u.used_ms + s.audio_ms FROM settled s WHERE u.id = s.user_id RETURNING GREATEST(0, u.quota_ms - u.used_ms) AS remaining_ms) SELECT remaining_ms FROM billed";

/// Tries the reservation's usual case; `false` when the full path must decide.
pub(super) async fn reserve_fast(
    metering: &MeteringConnections,
    gate: &Gate,
    usage: &UsageContext,
    estimate_ms: i64,
    lease_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let pending = Outcome::pending(estimate_ms, lease_until);
    let query = bind_usage(RESERVE_FAST, Dialect::Postgres, usage, &pending, Utc::now());
    let mut metered = metering.take().await?;
    let result = execute_raw(metered.conn(), &query).await;
    gate.observe(&result);
    Ok(metered.finish(result)?.rows_affected() == 1)
}

/// Settles a pending record exactly once: bills, releases, records the outcome; `None` when
/// the record was settled already (or is not there).
///
/// The record's own reservation bounds the bill, and `status = 'pending'` makes it
/// exactly-once: a second settler (or the reaper) blocks on the record's row lock, then finds
/// the status changed and updates nothing, the user's balance included.
pub(super) async fn settle(
    metering: &MeteringConnections,
    gate: &Gate,
    usage_id: &str,
    settlement: &Settlement,
) -> Result<Option<Settled>, StoreError> {
    let query = Query::new(SETTLE)
        .bind(settlement.status.as_str())
        .bind(settlement.billed_ms)
        .bind(settlement.error_code.as_deref())
        .bind(settlement.error_message.as_deref())
        .bind(Utc::now())
        .bind(usage_id);
    let mut metered = metering.take().await?;
    let mut remaining = None;
    let result = for_each_raw(metered.conn(), &query, &mut |row| {
        remaining = Some(get::<i64>(row, "remaining_ms")?);
        Ok(())
    })
    .await;
    gate.observe(&result);
    metered.finish(result)??;
    Ok(remaining.map(|remaining_ms| Settled {
        applied: true,
        remaining_ms,
    }))
}
