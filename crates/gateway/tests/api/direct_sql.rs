//! Edits of the books made directly in the database, as a crash, an operator or the passing
//! of time would make them, on whichever database a test runs.

use chrono::{DateTime, SecondsFormat, Utc};

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone, Copy)]
pub enum SqlArg {
    Int(i64),
    Time(DateTime<Utc>),
}

/// Runs `sql` (placeholders `$1`, `$2`, …) with `args` on the database at `url` (an SQLite
/// `sqlite://` URL or a PostgreSQL one); returns the rows it changed.
pub async fn run_sql(url: &str, sql: &str, args: &[SqlArg]) -> u64 {
    match url.strip_prefix("sqlite://") {
        Some(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .unwrap();
            let values: Vec<rusqlite::types::Value> = args
                .iter()
                .map(|arg| match arg {
                    SqlArg::Int(v) => rusqlite::types::Value::Integer(*v),
                    // As the store writes instants.
                    SqlArg::Time(at) => rusqlite::types::Value::Text(
                        at.to_rfc3339_opts(SecondsFormat::AutoSi, false),
                    ),
                })
                .collect();
            let changed = conn
                .execute(&sql.replace('$', "?"), rusqlite::params_from_iter(values))
                .unwrap();
            changed as u64
        }
        None => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let mut query = sqlx::query(sql);
            for arg in args {
                query = match arg {
                    SqlArg::Int(v) => query.bind(*v),
                    SqlArg::Time(at) => query.bind(*at),
                };
            }
            let changed = query.execute(&mut conn).await.unwrap().rows_affected();
            let _ = conn.close().await;
            changed
        }
    }
}
