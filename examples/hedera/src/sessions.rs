//! Sessions: a typed keyspace, `session:{user_id}`, 30 days from the last activity.
//!
//! `POST /api/v1/sessions` stores one; `GET /api/v1/sessions/{user_id}` returns it, records the
//! activity (`update`, a compare-and-set) and renews the 30 days (`touch`); `DELETE` logs out.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cache_runtime::{keyspace, Update};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::policy::HederaPolicy;

/// A signed-in user, as the seed stores it (camelCase JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The user.
    pub user_id: String,
    /// Their e-mail address.
    pub email: String,
    /// `ES`, `US`, `IN`, `BR` or `NG`.
    pub country_code: String,
    /// `0.0.xxxxx`.
    pub hedera_account_id: String,
    /// Unix seconds of the last request that read the session.
    pub last_activity: u64,
}

/// The body of `POST /api/v1/sessions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSession {
    /// The user.
    pub user_id: String,
    /// Their e-mail address.
    pub email: String,
    /// Their country.
    pub country_code: String,
    /// Their Hedera account.
    pub hedera_account_id: String,
}

keyspace!(
    /// Sessions by user: `v1:_:session:{user_id}`, plain JSON, 30 days from the last activity.
    pub SESSIONS: Session = "session:{user_id}", ttl = HederaPolicy::Session
);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `POST /api/v1/sessions`: `201` and the session.
pub async fn create(Json(new): Json<NewSession>) -> Result<Response, ApiError> {
    if new.user_id.trim().is_empty() {
        return Err(ApiError::bad_request("userId must not be empty"));
    }
    let session = Session {
        user_id: new.user_id,
        email: new.email,
        country_code: new.country_code.to_uppercase(),
        hedera_account_id: new.hedera_account_id,
        last_activity: now(),
    };
    if !SESSIONS.set(&session.user_id, &session).await {
        return Err(ApiError::unavailable("the session store did not answer"));
    }
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

/// `GET /api/v1/sessions/{user_id}`: the session with its activity recorded, or `404`.
pub async fn read(Path(user_id): Path<String>) -> Result<Json<Session>, ApiError> {
    let touched = SESSIONS
        .update(&user_id, |session| {
            session.map(|session| Session {
                last_activity: now(),
                ..session
            })
        })
        .await;
    match touched {
        Update::Stored(session) => {
            // `update` keeps the remaining TTL; activity renews the whole 30 days.
            SESSIONS.touch(&user_id).await;
            Ok(Json(session))
        }
        _ => Err(ApiError::not_found(format!("no session for `{user_id}`"))),
    }
}

/// `DELETE /api/v1/sessions/{user_id}`: logout; `204`, or `404` without a session.
pub async fn logout(Path(user_id): Path<String>) -> Result<StatusCode, ApiError> {
    if !SESSIONS.exists(&user_id).await {
        return Err(ApiError::not_found(format!("no session for `{user_id}`")));
    }
    SESSIONS.delete(&user_id).await;
    Ok(StatusCode::NO_CONTENT)
}
