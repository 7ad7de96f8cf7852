//! Voices: registration, the filtered listing, lookup by name, and cloned voices' expiry.

use chrono::{DateTime, Utc};

use super::rows::{self, VOICE_COLUMNS};
use super::{audit, fetch_all, fetch_one, fetch_optional, Conn, Query};
use crate::domain::audit::AuditEntry;
use crate::domain::records::Voice;
use crate::store::{NewVoice, StoreError, VoiceFilter};

/// Adds a voice, with its audit row.
pub(crate) async fn create(
    conn: &mut dyn Conn,
    voice: NewVoice,
    audit_entry: AuditEntry,
) -> Result<Voice, StoreError> {
    let sql = format!(
        "INSERT INTO voices (friendly_name, provider, engine_voice_id, language, gender, description, is_cloned, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {VOICE_COLUMNS}"
    );
    let query = Query::new(sql)
        .bind(&voice.friendly_name)
        .bind(voice.provider.as_str())
        .bind(&voice.engine_voice_id)
        .bind(&voice.language)
        .bind(voice.gender.as_str())
        .bind(voice.description.as_deref())
        .bind(voice.is_cloned)
        .bind(voice.expires_at)
        .bind(Utc::now());
    let created = fetch_one(conn, &query, rows::voice)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("friendly_name"),
            other => other,
        })?;
    audit::insert(conn, &audit_entry.target(created.id)).await?;
    Ok(created)
}

/// Voices matching a filter, by id.
pub(crate) async fn list(
    conn: &mut dyn Conn,
    filter: &VoiceFilter,
) -> Result<Vec<Voice>, StoreError> {
    let mut query = Query::new(format!("SELECT {VOICE_COLUMNS} FROM voices WHERE TRUE"));
    if !filter.include_inactive {
        query.push(" AND is_active");
    }
    if let Some(language) = &filter.language {
        query.push(" AND language = ").push_bind(language.as_str());
    }
    if let Some(gender) = filter.gender {
        query.push(" AND gender = ").push_bind(gender.as_str());
    }
    query.push(" ORDER BY id");
    fetch_all(conn, &query, rows::voice).await
}

/// An active voice by friendly name.
pub(crate) async fn find(
    conn: &mut dyn Conn,
    friendly_name: &str,
) -> Result<Option<Voice>, StoreError> {
    let sql = format!("SELECT {VOICE_COLUMNS} FROM voices WHERE friendly_name = $1 AND is_active");
    fetch_optional(conn, &Query::new(sql).bind(friendly_name), rows::voice).await
}

/// Records a use of a cloned voice and pushes its expiry to `expires_at`.
pub(crate) async fn touch_cloned(
    conn: &mut dyn Conn,
    voice_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let query = Query::new(
        "UPDATE voices SET last_used_at = $1, expires_at = $2 WHERE id = $3 AND is_cloned",
    )
    .bind(Utc::now())
    .bind(expires_at)
    .bind(voice_id);
    conn.execute(&query).await?;
    Ok(())
}
