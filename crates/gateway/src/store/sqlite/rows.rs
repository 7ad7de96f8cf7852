//! Row → record mapping for SQLite, for sqlx's rows (the pools) and rusqlite's (the inline
//! request-path reads) alike: one mapping per record, read by column name.

use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::Row;

use crate::domain::options::Gender;
use crate::domain::plan::{Plan, Role};
use crate::domain::records::{ApiKeyRecord, UsageRecord, UsageStatus, User, Voice};
use crate::engine::Provider;
use crate::store::StoreError;

pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

/// A column type both drivers decode the same way (timestamps: RFC 3339 text).
pub(super) trait Value:
    for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + rusqlite::types::FromSql
{
}

impl<T> Value for T where
    T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + rusqlite::types::FromSql
{
}

/// A result row of either driver.
pub(super) trait Columns {
    /// The named column's value; a value that does not decode is corrupt data.
    fn get<T: Value>(&self, column: &str) -> Result<T, StoreError>;
}

impl Columns for SqliteRow {
    fn get<T: Value>(&self, column: &str) -> Result<T, StoreError> {
        self.try_get(column)
            .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    }
}

/// A rusqlite row with its statement's column names, read once per row: rusqlite's own
/// lookup by name asks SQLite for every column's name again on each call, which made the
/// names most of the cost of an inline key lookup.
pub(super) struct NamedRow<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    names: Vec<&'r str>,
}

impl<'r, 's> NamedRow<'r, 's> {
    pub(super) fn new(row: &'r rusqlite::Row<'s>) -> NamedRow<'r, 's> {
        NamedRow {
            row,
            names: row.as_ref().column_names(),
        }
    }
}

impl Columns for NamedRow<'_, '_> {
    fn get<T: Value>(&self, column: &str) -> Result<T, StoreError> {
        let index = self
            .names
            .iter()
            .position(|name| *name == column)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {column}")))?;
        self.row
            .get(index)
            .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    }
}

fn get<T: Value>(row: &impl Columns, column: &str) -> Result<T, StoreError> {
    row.get(column)
}

/// Columns of `users`, in the order [`user`] reads them.
pub const USER_COLUMNS: &str = "u.id, u.name, u.email, u.plan, u.role, u.quota_ms, u.quota_custom, u.used_ms, u.reserved_ms, u.rpm_limit, u.max_streams, u.is_active, u.created_at, u.updated_at, u.cycle_anchor, u.cycle_started_at, u.cycle_ends_at";

pub fn user(row: &impl Columns) -> Result<User, StoreError> {
    let plan: String = get(row, "plan")?;
    let role: String = get(row, "role")?;
    Ok(User {
        id: get(row, "id")?,
        name: get(row, "name")?,
        email: get(row, "email")?,
        plan: Plan::parse(&plan).ok_or_else(|| corrupt("plan", &plan))?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        quota_ms: get(row, "quota_ms")?,
        quota_custom: get(row, "quota_custom")?,
        used_ms: get(row, "used_ms")?,
        reserved_ms: get(row, "reserved_ms")?,
        rpm_limit: get(row, "rpm_limit")?,
        max_streams: get(row, "max_streams")?,
        is_active: get(row, "is_active")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        cycle_anchor: get(row, "cycle_anchor")?,
        cycle_started_at: get(row, "cycle_started_at")?,
        cycle_ends_at: get(row, "cycle_ends_at")?,
    })
}

/// Columns of `api_keys` for [`key`], aliased so they do not clash with user columns.
pub const KEY_COLUMNS: &str = "k.id AS k_id, k.user_id AS k_user_id, k.name AS k_name, k.prefix AS k_prefix, k.key_hash AS k_hash, k.created_at AS k_created_at, k.expires_at AS k_expires_at, k.last_used_at AS k_last_used_at, k.revoked_at AS k_revoked_at";

pub fn key(row: &impl Columns) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: get(row, "k_id")?,
        user_id: get(row, "k_user_id")?,
        name: get(row, "k_name")?,
        prefix: get(row, "k_prefix")?,
        hash: get(row, "k_hash")?,
        created_at: get(row, "k_created_at")?,
        expires_at: get(row, "k_expires_at")?,
        last_used_at: get(row, "k_last_used_at")?,
        revoked_at: get(row, "k_revoked_at")?,
    })
}

/// Columns of `voices`, in the order [`voice`] reads them.
pub const VOICE_COLUMNS: &str = "id, friendly_name, provider, engine_voice_id, language, gender, description, display_name, accent, tone, use_cases, is_verified, is_cloned, is_active, expires_at, created_at";

pub fn voice(row: &impl Columns) -> Result<Voice, StoreError> {
    let provider: String = get(row, "provider")?;
    let gender: String = get(row, "gender")?;
    let use_cases: String = get(row, "use_cases")?;
    Ok(Voice {
        id: get(row, "id")?,
        friendly_name: get(row, "friendly_name")?,
        provider: Provider::parse(&provider).ok_or_else(|| corrupt("provider", &provider))?,
        engine_voice_id: get(row, "engine_voice_id")?,
        language: get(row, "language")?,
        gender: Gender::parse(&gender).ok_or_else(|| corrupt("gender", &gender))?,
        description: get(row, "description")?,
        display_name: get(row, "display_name")?,
        accent: get(row, "accent")?,
        tone: get(row, "tone")?,
        use_cases: serde_json::from_str(&use_cases)
            .map_err(|_| corrupt("use_cases", &use_cases))?,
        is_verified: get(row, "is_verified")?,
        is_cloned: get(row, "is_cloned")?,
        is_active: get(row, "is_active")?,
        expires_at: get(row, "expires_at")?,
        created_at: get(row, "created_at")?,
    })
}

pub fn usage(row: &impl Columns) -> Result<UsageRecord, StoreError> {
    let status: String = get(row, "status")?;
    Ok(UsageRecord {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        key_id: get(row, "key_id")?,
        voice_id: get(row, "voice_id")?,
        request_id: get(row, "request_id")?,
        endpoint: get(row, "endpoint")?,
        engine: get(row, "engine")?,
        model_used: get(row, "model_used")?,
        text_length: get(row, "text_length")?,
        status: UsageStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        reserved_ms: get(row, "reserved_ms")?,
        audio_ms: get(row, "audio_ms")?,
        error_code: get(row, "error_code")?,
        error_message: get(row, "error_message")?,
        created_at: get(row, "created_at")?,
        settled_at: get(row, "settled_at")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Columns, NamedRow};
    use chrono::{DateTime, TimeZone, Utc};
    use sqlx::Connection as _;

    /// Both drivers read every timestamp form SQLite may hold as the same instant.
    #[tokio::test]
    async fn both_drivers_read_timestamps_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.db");
        let forms = [
            ("2026-11-27T21:45:42.123456789+00:00", 123_456_789),
            ("2026-11-27T21:45:42Z", 0),
            ("2026-11-27 21:45:42", 0),
            ("2026-11-27 23:45:42+02:00", 0),
        ];
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("CREATE TABLE t (n INTEGER, at TEXT)", [])
            .unwrap();
        for (n, (text, _)) in forms.iter().enumerate() {
            conn.execute("INSERT INTO t VALUES (?1, ?2)", rusqlite::params![n, text])
                .unwrap();
        }
        let mut sqlx_conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
        let sqlx_rows = sqlx::query("SELECT at FROM t ORDER BY n")
            .fetch_all(&mut sqlx_conn)
            .await
            .unwrap();
        let mut statement = conn.prepare("SELECT at FROM t ORDER BY n").unwrap();
        let rusqlite_rows: Vec<DateTime<Utc>> = statement
            .query_map([], |row| {
                Ok(Columns::get::<DateTime<Utc>>(&NamedRow::new(row), "at").unwrap())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plain = Utc.with_ymd_and_hms(2026, 11, 27, 21, 45, 42).unwrap();
        for ((row, from_rusqlite), (_, nanos)) in sqlx_rows.iter().zip(&rusqlite_rows).zip(forms) {
            let from_sqlx: DateTime<Utc> = row.get("at").unwrap();
            assert_eq!(from_sqlx, *from_rusqlite);
            assert_eq!(from_sqlx, plain + chrono::Duration::nanoseconds(nanos));
        }
        assert_eq!(rusqlite_rows.len(), forms.len());
    }
}
