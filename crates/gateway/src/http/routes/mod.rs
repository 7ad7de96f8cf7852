//! One file per resource.

pub mod account;
pub mod audit;
pub mod cloning;
pub mod cycles;
pub mod health;
pub mod keys;
pub mod openai;
pub mod operations;
pub mod reports;
pub mod tts;
pub mod users;
pub mod voices;

use serde::{Deserialize, Deserializer, Serialize};

/// Most rows a listing gives at once.
pub const MAX_PAGE: i64 = 200;

/// `limit`/`offset` paging for listings.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// Rows per page, 1..=200 (default 50).
    #[serde(default, deserialize_with = "crate::http::numbers::query_integer")]
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    #[serde(default, deserialize_with = "crate::http::numbers::query_integer")]
    pub offset: Option<i64>,
}

impl Paging {
    /// Validated page.
    pub fn page(&self) -> Result<crate::store::Page, crate::error::ApiError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(crate::error::ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        if offset < 0 {
            return Err(crate::error::ApiError::field("offset", "must be 0 or more"));
        }
        Ok(crate::store::Page { offset, limit })
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListResponse<T> {
    /// The rows.
    pub data: Vec<T>,
    /// Rows matching in all (when counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    de: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}
