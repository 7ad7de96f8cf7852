//! Voices in SQLite.

use chrono::Utc;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::db_err;
use super::rows::{self, VOICE_COLUMNS};
use crate::domain::audit::AuditEntry;
use crate::domain::records::Voice;
use crate::store::{NewVoice, StoreError, VoiceFilter};

pub async fn create(
    pool: &SqlitePool,
    voice: NewVoice,
    audit: Option<AuditEntry>,
) -> Result<Voice, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let sql = format!(
        "INSERT INTO voices (friendly_name, provider, engine_voice_id, language, gender, description, is_cloned, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {VOICE_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(&voice.friendly_name)
        .bind(voice.provider.as_str())
        .bind(&voice.engine_voice_id)
        .bind(&voice.language)
        .bind(voice.gender.as_str())
        .bind(&voice.description)
        .bind(voice.is_cloned)
        .bind(voice.expires_at)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Conflict(_) => StoreError::Conflict("friendly_name"),
            other => other,
        })?;
    let created = rows::voice(&row)?;
    if let Some(entry) = audit {
        super::audit::insert(&mut tx, &entry.target(created.id)).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(created)
}

pub async fn list(pool: &SqlitePool, filter: &VoiceFilter) -> Result<Vec<Voice>, StoreError> {
    let mut q =
        QueryBuilder::<Sqlite>::new(format!("SELECT {VOICE_COLUMNS} FROM voices WHERE 1 = 1"));
    if !filter.include_inactive {
        q.push(" AND is_active = 1");
    }
    if let Some(language) = &filter.language {
        q.push(" AND language = ").push_bind(language.clone());
    }
    if let Some(gender) = filter.gender {
        q.push(" AND gender = ").push_bind(gender.as_str());
    }
    q.push(" ORDER BY id");
    let found = q.build().fetch_all(pool).await.map_err(db_err)?;
    found.iter().map(rows::voice).collect()
}

/// Pushes a cloned voice's expiry after a use.
pub async fn touch_cloned(
    pool: &SqlitePool,
    voice_id: i64,
    expires_at: chrono::DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE voices SET last_used_at = ?, expires_at = ? WHERE id = ? AND is_cloned = 1",
    )
    .bind(Utc::now())
    .bind(expires_at)
    .bind(voice_id)
    .execute(pool)
    .await
    .map_err(db_err)?;
    Ok(())
}
