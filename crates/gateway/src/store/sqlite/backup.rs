//! Online backups of the SQLite store: `VACUUM INTO` writes a consistent, compacted copy from
//! one read transaction (WAL mode: the server keeps writing meanwhile), then the copy is
//! opened on its own and checked.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{db_err, SqliteStore};
use crate::store::StoreError;

/// What a finished backup holds, as read back from the copy.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    /// Size of the copy in bytes.
    pub bytes: u64,
    /// Users in the copy.
    pub users: i64,
    /// Usage records in the copy.
    pub usage_records: i64,
}

impl SqliteStore {
    /// Writes a consistent copy of the database to `dest`, which must not exist, and verifies
    /// it (`PRAGMA integrity_check`). The path is bound as a parameter, never spliced into SQL.
    pub async fn backup_into(&self, dest: &Path) -> Result<BackupSummary, StoreError> {
        let text = dest.to_str().ok_or_else(|| {
            StoreError::Unavailable(format!("{} is not a UTF-8 path", dest.display()))
        })?;
        if dest.exists() {
            return Err(StoreError::Conflict("backup destination already exists"));
        }
        sqlx::query("VACUUM INTO ?")
            .bind(text)
            .execute(&self.read)
            .await
            .map_err(db_err)?;
        verify(dest).await
    }
}

/// Opens the copy on a connection of its own (not the store's pools) and checks it.
async fn verify(path: &Path) -> Result<BackupSummary, StoreError> {
    let mut conn = SqliteConnectOptions::from_str("sqlite://")
        .map_err(db_err)?
        .filename(path)
        .connect()
        .await
        .map_err(db_err)?;
    let checks: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(db_err)?;
    if checks.len() != 1 || checks[0].0 != "ok" {
        let found: Vec<String> = checks.into_iter().map(|(c,)| c).take(5).collect();
        return Err(StoreError::Corrupt(format!(
            "backup failed its integrity check: {}",
            found.join("; ")
        )));
    }
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    let (usage_records,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM usage_records")
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    let _ = conn.close().await;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary {
        bytes,
        users,
        usage_records,
    })
}
