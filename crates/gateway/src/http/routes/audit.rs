//! Admin: the audit log — who changed what, newest first.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ListResponse, Paging};
use crate::domain::audit::AuditRecord;
use crate::error::ApiError;
use crate::http::error::ErrorBody;
use crate::http::extract::{Admin, QueryParams};
use crate::http::AppState;
use crate::store::AuditFilter;

/// Filters of `GET /admin/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this action, e.g. `user.create`, `key.revoke`, `user.cycle.reset`.
    pub action: Option<String>,
    /// Only this target type: `user`, `api_key` or `voice`.
    pub target_type: Option<String>,
    /// Only this target id (a user or voice id, or a key id).
    pub target_id: Option<String>,
    /// Rows per page, 1..=200 (default 50).
    #[serde(default, deserialize_with = "crate::http::numbers::query_integer")]
    pub limit: Option<i64>,
    /// Rows to skip.
    #[serde(default, deserialize_with = "crate::http::numbers::query_integer")]
    pub offset: Option<i64>,
}

/// One audit row.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordResponse {
    /// Row id (UUID v7).
    pub id: String,
    /// The admin who made the change; `null` for the command line.
    pub actor_user_id: Option<i64>,
    /// What was done, e.g. `user.create`.
    pub action: String,
    /// `user`, `api_key` or `voice`.
    pub target_type: String,
    /// Id of the changed row.
    pub target_id: String,
    /// What changed (never a key's text).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// Request id of the admin request.
    pub request_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<AuditRecord> for AuditRecordResponse {
    fn from(r: AuditRecord) -> Self {
        AuditRecordResponse {
            id: r.id,
            actor_user_id: r.actor_user_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            details: r.details,
            request_id: r.request_id,
            created_at: r.created_at,
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    params(AuditQuery),
    responses((status = 200, description = "Audit rows, newest first", body = ListResponse<AuditRecordResponse>), (status = 401, description = "Missing, malformed, unknown, revoked or expired API key", body = ErrorBody), (status = 403, description = "Inactive user, or not an admin", body = ErrorBody), (status = 422, description = "A field broke a rule; `detail` names it", body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_audit(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<ListResponse<AuditRecordResponse>>, ApiError> {
    let page = Paging {
        limit: query.limit,
        offset: query.offset,
    }
    .page()?;
    let filter = AuditFilter {
        action: query.action,
        target_type: query.target_type,
        target_id: query.target_id,
    };
    let (records, total) = state.admin.audit.list(filter, page).await?;
    Ok(Json(ListResponse {
        data: records.into_iter().map(AuditRecordResponse::from).collect(),
        total: Some(total),
        limit: page.limit,
        offset: page.offset,
    }))
}
