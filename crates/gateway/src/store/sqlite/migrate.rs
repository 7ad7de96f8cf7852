//! Applies the embedded SQLite migrations on the writer's connection, keeping the books of
//! sqlx's migrator (`_sqlx_migrations`, same columns and checksums), so databases migrated
//! by earlier versions of the gateway, which used it, carry on where they are.
//!
//! All pending migrations run in one transaction: a failure leaves the schema as it was.

use std::time::Instant;

use rusqlite::{params, Connection, OptionalExtension};

use super::connection::store_err;
use crate::store::schema::migration_name;
use crate::store::StoreError;

/// Migrations for SQLite, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Applies every pending migration in the open transaction on `conn`.
pub(super) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let sql_err = |e: rusqlite::Error| store_err(&e);
    conn.execute_batch(CREATE_TABLE).map_err(sql_err)?;
    let dirty: Option<i64> = conn
        .query_row(
            "SELECT version FROM _sqlx_migrations WHERE success = 0 ORDER BY version LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql_err)?;
    if let Some(version) = dirty {
        return Err(StoreError::Corrupt(format!(
            "migration {version} was left partly applied; restore the backup taken before the upgrade"
        )));
    }
    for migration in MIGRATOR.iter() {
        if migration.migration_type.is_down_migration() {
            continue;
        }
        let stored: Option<Vec<u8>> = conn
            .query_row(
                "SELECT checksum FROM _sqlx_migrations WHERE version = ?1",
                [migration.version],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql_err)?;
        match stored {
            Some(checksum) if checksum == migration.checksum.as_ref() => continue,
            Some(_) => {
                return Err(StoreError::Corrupt(format!(
                    "migration {} was applied from a different file than this binary holds",
                    migration_name(migration)
                )))
            }
            None => {}
        }
        let started = Instant::now();
        conn.execute_batch(&migration.sql).map_err(|e| {
            StoreError::Unavailable(format!("migration {}: {e}", migration_name(migration)))
        })?;
        let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?1, ?2, 1, ?3, ?4)",
            params![
                migration.version,
                migration.description.as_ref(),
                migration.checksum.as_ref(),
                nanos
            ],
        )
        .map_err(sql_err)?;
    }
    Ok(())
}

/// Versions applied successfully, on any connection (none when nothing was ever applied).
pub(super) fn applied(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let exists: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
            [],
            |row| row.get(0),
        )
        .map_err(|e| store_err(&e))?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut statement = conn
        .prepare("SELECT version FROM _sqlx_migrations WHERE success = 1 ORDER BY version")
        .map_err(|e| store_err(&e))?;
    let versions = statement
        .query_map([], |row| row.get(0))
        .map_err(|e| store_err(&e))?
        .collect::<rusqlite::Result<Vec<i64>>>()
        .map_err(|e| store_err(&e))?;
    Ok(versions)
}
