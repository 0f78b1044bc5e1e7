//! The tenant of a request, from the `X-Tenant-Id` header.
//!
//! A request without a usable tenant is rejected before any handler runs: there is no default
//! tenant, so no request can ever read or fill an entry shared between tenants.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;

/// The header that names the tenant.
pub const TENANT_HEADER: &str = "x-tenant-id";

/// The longest tenant id accepted, in bytes.
pub const MAX_TENANT_LEN: usize = 128;

/// The tenant id of a request. Extracting it rejects a missing, empty (or blank), non-UTF-8 or
/// over-long `X-Tenant-Id` header with `400` and a JSON error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantId(String);

impl TenantId {
    /// The id as sent, without surrounding whitespace.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(TENANT_HEADER) else {
            return Err(ApiError::bad_request(
                "missing_tenant",
                "the X-Tenant-Id header is required",
            ));
        };
        let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
            return Err(ApiError::bad_request(
                "invalid_tenant",
                "the X-Tenant-Id header must be UTF-8 text",
            ));
        };
        let id = text.trim();
        if id.is_empty() {
            return Err(ApiError::bad_request(
                "missing_tenant",
                "the X-Tenant-Id header must not be empty",
            ));
        }
        if id.len() > MAX_TENANT_LEN {
            return Err(ApiError::bad_request(
                "invalid_tenant",
                format!("the X-Tenant-Id header must be at most {MAX_TENANT_LEN} bytes"),
            ));
        }
        Ok(TenantId(id.to_owned()))
    }
}
