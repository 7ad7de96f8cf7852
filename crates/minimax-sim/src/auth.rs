//! Bearer-token and GroupId checks for the `/v1/*` API.

use axum::http::{header, HeaderMap};

use crate::SimConfig;

/// Returns the business error (code, message) when the caller is not allowed.
pub(crate) fn check(
    config: &SimConfig,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), (i64, &'static str)> {
    const NOT_AUTHORIZED: (i64, &str) = (1004, "not authorized");
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(NOT_AUTHORIZED)?;
    if let Some(key) = &config.api_key {
        if token != key {
            return Err(NOT_AUTHORIZED);
        }
    }
    if let (Some(expected), Some(q)) = (&config.group_id, query) {
        let given = url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "GroupId")
            .map(|(_, v)| v.into_owned());
        if given.is_some_and(|g| &g != expected) {
            return Err((1004, "token not match group"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(auth) {
            h.insert(header::AUTHORIZATION, v);
        }
        h
    }

    #[test]
    fn bearer_and_group_rules() {
        let open = SimConfig::default();
        assert!(check(&open, &headers("Bearer x"), None).is_ok());
        assert!(check(&open, &headers("Bearer "), None).is_err());
        assert!(check(&open, &headers("Basic x"), None).is_err());
        assert!(check(&open, &HeaderMap::new(), None).is_err());
        let strict = SimConfig {
            api_key: Some("k".into()),
            group_id: Some("g".into()),
            ..SimConfig::default()
        };
        assert!(check(&strict, &headers("Bearer k"), Some("GroupId=g")).is_ok());
        assert!(check(&strict, &headers("Bearer k"), Some("a=b")).is_ok());
        assert_eq!(
            check(&strict, &headers("Bearer k"), Some("GroupId=h")),
            Err((1004, "token not match group"))
        );
        assert!(check(&strict, &headers("Bearer j"), None).is_err());
    }
}
