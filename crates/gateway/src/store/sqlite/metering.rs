//! SQLite's metering hot path: the reservation's usual case and the settlement, each a
//! couple of statements run straight on the writer's connection (inline when idle, group
//! committed under load; see `writer.rs`). The reservation's other cases take the shared full
//! path (`sql::metering::reserve`) in the same transaction.

use chrono::{DateTime, Utc};
use futures::FutureExt;

use super::connection::{execute, for_each_row, run_on};
use super::writer::Writer;
use crate::store::sql::usage::{insert_query, Outcome};
use crate::store::sql::{self, get, Dialect, Query};
use crate::store::{Reservation, Settled, Settlement, StoreError, UsageContext};

/// The usual case: the cycle is running and the quota covers the estimate.
const RESERVE_FAST: &str = "UPDATE users SET reserved_ms = reserved_ms + $1 WHERE id = $2 AND is_active AND used_ms + reserved_ms + $1 <= quota_ms AND cycle_ends_at > $3";

/// The record's exactly-once settlement: its own reservation bounds the bill.
const SETTLE_RECORD: &str = "UPDATE usage_records SET status = $1, audio_ms = MIN(MAX($2, 0), reserved_ms), error_code = $3, error_message = $4, settled_at = $5, lease_expires_at = NULL WHERE id = $6 AND status = 'pending' RETURNING user_id, reserved_ms, audio_ms";

/// The user's bill and release, once the record settled.
const SETTLE_USER: &str = "UPDATE users SET reserved_ms = reserved_ms - $1, used_ms = used_ms + $2 WHERE id = $3 RETURNING MAX(0, quota_ms - used_ms) AS n";

/// Reserves `estimate_ms` and writes the pending record, or takes the full path.
pub(super) async fn reserve(
    writer: &Writer,
    usage: &UsageContext,
    estimate_ms: i64,
    lease_until: DateTime<Utc>,
) -> Result<Reservation, StoreError> {
    let usage = usage.clone();
    let now = Utc::now();
    writer
        .run(move |conn| {
            let fast = Query::new(RESERVE_FAST)
                .bind(estimate_ms)
                .bind(usage.user_id)
                .bind(now);
            if execute(conn, &fast)? == 1 {
                let pending = Outcome::pending(estimate_ms, lease_until);
                execute(conn, &insert_query(Dialect::Sqlite, &usage, &pending, now))?;
                return Ok(Reservation::Reserved);
            }
            // Cycle rollover, quota refusal and inactive users.
            run_on(conn, move |c| {
                async move { sql::metering::reserve(c, &usage, estimate_ms, lease_until).await }
                    .boxed()
            })
        })
        .await
}

/// Settles a pending record exactly once; `applied` is false when it was settled already.
pub(super) async fn settle(
    writer: &Writer,
    usage_id: &str,
    settlement: Settlement,
) -> Result<Settled, StoreError> {
    let usage_id = usage_id.to_owned();
    let now = Utc::now();
    writer
        .run(move |conn| {
            let record = Query::new(SETTLE_RECORD)
                .bind(settlement.status.as_str())
                .bind(settlement.billed_ms)
                .bind(settlement.error_code.as_deref())
                .bind(settlement.error_message.as_deref())
                .bind(now)
                .bind(usage_id.as_str());
            let mut settled = None;
            for_each_row(conn, &record, &mut |row| {
                settled = Some((
                    get::<i64>(row, "user_id")?,
                    get::<i64>(row, "reserved_ms")?,
                    get::<i64>(row, "audio_ms")?,
                ));
                Ok(())
            })?;
            let Some((user_id, reserved_ms, billed_ms)) = settled else {
                return run_on(conn, move |c| {
                    async move { sql::metering::remaining_after(c, &usage_id).await }.boxed()
                });
            };
            let bill = Query::new(SETTLE_USER)
                .bind(reserved_ms)
                .bind(billed_ms)
                .bind(user_id);
            let mut remaining_ms = None;
            for_each_row(conn, &bill, &mut |row| {
                remaining_ms = Some(get::<i64>(row, "n")?);
                Ok(())
            })?;
            Ok(Settled {
                applied: true,
                remaining_ms: remaining_ms.ok_or(StoreError::NotFound)?,
            })
        })
        .await
}
