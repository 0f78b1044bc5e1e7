//! API quotas: at most `API_QUOTA_PER_DAY` requests per user (`X-User-Id`) and UTC day, counted
//! in the cache's store (`v1:_:quota:api_quota:<user>:<day>`), so every instance shares them.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cache_runtime::limit::Decision;
use serde_json::json;

use crate::error::ApiError;
use crate::AppState;

/// The header naming the user.
pub const USER_HEADER: &str = "x-user-id";

/// Counts the request against its user's quota; `400` without a user, `429` past the quota.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get(USER_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|user| !user.is_empty() && user.len() <= 128)
        .map(str::to_owned);
    let Some(user) = user else {
        return ApiError::bad_request("send the user in `X-User-Id`").into_response();
    };
    let decision = state.quota().consume(&user).await;
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        let body = json!({
            "error": "quota_exceeded",
            "message": format!("user `{user}` used all {} requests of today (UTC)", decision.limit),
        });
        let mut refused = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        let retry = decision
            .retry_after
            .unwrap_or(decision.reset)
            .as_secs()
            .max(1);
        refused
            .headers_mut()
            .insert("retry-after", HeaderValue::from(retry));
        refused
    };
    add_headers(&mut response, &decision);
    response
}

fn add_headers(response: &mut Response, decision: &Decision) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-quota-limit", decision.limit),
        ("x-quota-remaining", decision.remaining),
        ("x-quota-reset", decision.reset.as_secs()),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}
