//! The HTTP handlers: extract and validate, run the cached query in the tenant's scope, answer
//! JSON.

use std::ops::RangeInclusive;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use cache_runtime::Stats;
use serde::Deserialize;

use crate::error::ApiError;
use crate::model::{Activity, Kpis, Trends};
use crate::queries::{self, QueryError};
use crate::state::AppState;
use crate::tenant::TenantId;

/// Accepted values of `days` in `/trends`.
pub const DAYS: RangeInclusive<u32> = 1..=365;
/// `days` when the query leaves it out.
pub const DEFAULT_DAYS: u32 = 30;
/// Accepted values of `limit` in `/activity`.
pub const LIMIT: RangeInclusive<u32> = 1..=100;
/// `limit` when the query leaves it out.
pub const DEFAULT_LIMIT: u32 = 10;

/// `GET /api/v1/dashboard/kpis`.
pub async fn kpis(State(state): State<AppState>, tenant: TenantId) -> Result<Json<Kpis>, ApiError> {
    let kpis = state
        .for_tenant(&tenant, queries::kpis(state.source()))
        .await;
    kpis.map(Json).map_err(query_failed)
}

/// The query string of `/trends`; values are checked by hand for one clear error message.
#[derive(Debug, Deserialize)]
pub struct TrendsParams {
    days: Option<String>,
}

/// `GET /api/v1/dashboard/trends?days=30`.
pub async fn trends(
    State(state): State<AppState>,
    tenant: TenantId,
    params: Result<Query<TrendsParams>, QueryRejection>,
) -> Result<Json<Trends>, ApiError> {
    let params = params
        .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let days = bounded("days", params.days.as_deref(), DAYS, DEFAULT_DAYS)?;
    let trends = state
        .for_tenant(&tenant, queries::trends(state.source(), days))
        .await;
    trends.map(Json).map_err(query_failed)
}

/// The query string of `/activity`.
#[derive(Debug, Deserialize)]
pub struct ActivityParams {
    limit: Option<String>,
}

/// `GET /api/v1/dashboard/activity?limit=10`.
pub async fn activity(
    State(state): State<AppState>,
    tenant: TenantId,
    params: Result<Query<ActivityParams>, QueryRejection>,
) -> Result<Json<Activity>, ApiError> {
    let params = params
        .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let limit = bounded("limit", params.limit.as_deref(), LIMIT, DEFAULT_LIMIT)?;
    let activity = state
        .for_tenant(&tenant, queries::activity(state.source(), limit))
        .await;
    activity.map(Json).map_err(query_failed)
}

/// `GET /api/v1/cache/metrics`: backend, breaker state and per-policy counters.
pub async fn metrics(State(state): State<AppState>) -> Json<Stats> {
    Json(state.cache().stats())
}

/// Any other path.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// `value` as a whole number within `range`, or `default` when absent.
fn bounded(
    name: &str,
    value: Option<&str>,
    range: RangeInclusive<u32>,
    default: u32,
) -> Result<u32, ApiError> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.trim().parse::<u32>() {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(ApiError::bad_request(
            "invalid_query",
            format!(
                "`{name}` must be a whole number from {} to {}, got `{text}`",
                range.start(),
                range.end()
            ),
        )),
    }
}

fn query_failed(error: QueryError) -> ApiError {
    tracing::error!(%error, "dashboard query failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        error.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_accepts_the_range_and_defaults() {
        assert_eq!(bounded("days", None, DAYS, 30), Ok(30));
        assert_eq!(bounded("days", Some("1"), DAYS, 30), Ok(1));
        assert_eq!(bounded("days", Some("365"), DAYS, 30), Ok(365));
        for bad in ["0", "366", "-1", "", "7d", "4294967296"] {
            let error = bounded("days", Some(bad), DAYS, 30).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
