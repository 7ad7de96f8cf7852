//! Online backups: `VACUUM INTO` writes a consistent, compacted copy from one read
//! transaction (WAL mode: the server keeps writing meanwhile), then the copy is opened on
//! its own and checked.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::connection::store_err;
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

/// Writes a consistent copy of the database `conn` reads to `dest`, which must not exist,
/// and verifies it (`PRAGMA integrity_check`). The path is bound as a parameter, never spliced
/// into SQL.
pub(super) fn backup_into(conn: &Connection, dest: &Path) -> Result<BackupSummary, StoreError> {
    let text = dest.to_str().ok_or_else(|| {
        StoreError::Unavailable(format!("{} is not a UTF-8 path", dest.display()))
    })?;
    if dest.exists() {
        return Err(StoreError::Conflict("backup destination already exists"));
    }
    conn.execute("VACUUM INTO ?1", [text])
        .map_err(|e| store_err(&e))?;
    verify(&dest.to_path_buf())
}

/// Opens the copy on a connection of its own and checks it.
fn verify(path: &PathBuf) -> Result<BackupSummary, StoreError> {
    let sql_err = |e: rusqlite::Error| store_err(&e);
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql_err)?;
    let mut statement = conn.prepare("PRAGMA integrity_check").map_err(sql_err)?;
    let checks = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sql_err)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(sql_err)?;
    if checks.len() != 1 || checks[0] != "ok" {
        let found: Vec<String> = checks.into_iter().take(5).collect();
        return Err(StoreError::Corrupt(format!(
            "backup failed its integrity check: {}",
            found.join("; ")
        )));
    }
    let count = |table: &str| -> Result<i64, StoreError> {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .map_err(sql_err)
    };
    let users = count("users")?;
    let usage_records = count("usage_records")?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(BackupSummary {
        bytes,
        users,
        usage_records,
    })
}
