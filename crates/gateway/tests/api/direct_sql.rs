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
            let changed = sqlite(path)
                .execute(&sql.replace('$', "?"), sqlite_args(args))
                .unwrap();
            changed as u64
        }
        None => {
            let mut conn = postgres(url).await;
            let changed = postgres_args(sqlx::query(sql), args)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected();
            close(conn).await;
            changed
        }
    }
}

/// The one integer `sql` selects (a count, a sum), on either database.
pub async fn select_int(url: &str, sql: &str, args: &[SqlArg]) -> i64 {
    match url.strip_prefix("sqlite://") {
        Some(path) => sqlite(path)
            .query_row(&sql.replace('$', "?"), sqlite_args(args), |row| row.get(0))
            .unwrap(),
        None => {
            use sqlx::Row;
            let mut conn = postgres(url).await;
            let row = postgres_args(sqlx::query(sql), args)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            close(conn).await;
            row.get(0)
        }
    }
}

fn sqlite(path: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

fn sqlite_args(args: &[SqlArg]) -> rusqlite::ParamsFromIter<Vec<rusqlite::types::Value>> {
    let values = args
        .iter()
        .map(|arg| match arg {
            SqlArg::Int(v) => rusqlite::types::Value::Integer(*v),
            // As the store writes instants.
            SqlArg::Time(at) => {
                rusqlite::types::Value::Text(at.to_rfc3339_opts(SecondsFormat::AutoSi, false))
            }
        })
        .collect();
    rusqlite::params_from_iter(values)
}

async fn postgres(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap()
}

async fn close(conn: sqlx::PgConnection) {
    use sqlx::Connection;
    let _ = conn.close().await;
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn postgres_args<'q>(mut query: PgQuery<'q>, args: &[SqlArg]) -> PgQuery<'q> {
    for arg in args {
        query = match arg {
            SqlArg::Int(v) => query.bind(*v),
            SqlArg::Time(at) => query.bind(*at),
        };
    }
    query
}
