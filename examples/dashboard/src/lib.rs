//! An example service: dashboard panels over HTTP (axum), each a `#[cached]` query cached per
//! tenant.
//!
//! A request flows: the [`tenant::TenantId`] extractor reads `X-Tenant-Id` (400 without it) →
//! the handler validates its parameters (400 with a JSON error) → it runs the panel's query from
//! [`queries`] inside the state's cache and the tenant's scope → a hit is answered from
//! Redis or the in-process store, a miss asks the slow [`source::Source`] and stores the result
//! with the TTL of its [`policy::DashboardPolicy`].
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/dashboard/kpis` | [`model::Kpis`] |
//! | `GET /api/v1/dashboard/trends?days=30` | [`model::Trends`], `days` in 1..=365 |
//! | `GET /api/v1/dashboard/activity?limit=10` | [`model::Activity`], `limit` in 1..=100 |
//! | `GET /api/v1/cache/metrics` | [`cache_runtime::Stats`]: backend, breaker, per-policy counters |
//! | `GET /metrics` | the cache's metrics in the Prometheus text format ([`prometheus`]) |
//! | `GET /healthz` | `ok`, or `degraded: <reason>` while Redis is unreachable or the breaker is open (always 200) |
//! | `GET /health/detailed` | [`health::Detailed`]: `status`, `services.redis.{status, connected, hit_rate_percent, memory_usage, total_commands, uptime_seconds, connected_clients}`, `services.cache` |

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod handlers;
pub mod health;
pub mod model;
pub mod policy;
pub mod prometheus;
pub mod queries;
pub mod source;
pub mod state;
pub mod tenant;

use axum::routing::get;
use axum::Router;

pub use crate::state::AppState;

/// The service's routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/health/detailed", get(health::detailed))
        .route("/api/v1/dashboard/kpis", get(handlers::kpis))
        .route("/api/v1/dashboard/trends", get(handlers::trends))
        .route("/api/v1/dashboard/activity", get(handlers::activity))
        .route("/api/v1/cache/metrics", get(handlers::metrics))
        .route("/metrics", get(prometheus::scrape))
        .fallback(handlers::not_found)
        .with_state(state)
}
