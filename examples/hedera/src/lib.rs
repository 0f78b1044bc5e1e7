//! The first seed's cache layer as a service: sessions, HBAR exchange rates, tariffs, and a rate
//! limit per client IP on every route.
//!
//! | route | answer |
//! |---|---|
//! | `POST /api/v1/sessions` | `201`, the [`sessions::Session`] (30 days, keyspace `session:{user_id}`) |
//! | `GET /api/v1/sessions/{user_id}` | the session, its activity recorded and its 30 days renewed; `404` |
//! | `DELETE /api/v1/sessions/{user_id}` | logout: `204`; `404` |
//! | `GET /api/v1/rates/{currency}` | [`rates::ExchangeRate`], 5 min, `EUR` and `eur` one entry, fallback provider |
//! | `GET /api/v1/tariffs/{country}/{provider}` | [`rates::Tariff`], 1 h |
//!
//! Every route is behind [`RateLimitLayer`]: past the limit per IP and minute, `429` with
//! `Retry-After`; every answer carries `RateLimit-Limit`, `-Remaining` and `-Reset`. The count
//! lives in the cache's store, so every instance on one Redis shares it.

#![warn(missing_docs)]

pub mod config;
pub mod policy;
pub mod rates;
pub mod sessions;

pub use example_support::{error, provider, shutdown_signal};

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use cache_runtime::limit::{client_ip, RateLimit, RateLimitLayer};
use cache_runtime::Cache;

use crate::config::ServiceConfig;
use crate::provider::Provider;

/// The simulated upstreams.
#[derive(Debug)]
pub struct Providers {
    /// The primary rate provider.
    pub coingecko: Provider,
    /// The fallback rate provider.
    pub coinmarketcap: Provider,
    /// The tariff database of the utilities.
    pub tariffs: Provider,
}

impl Providers {
    /// Providers as `config` describes them.
    pub fn from_config(config: &ServiceConfig) -> Self {
        let delay = config.provider_delay;
        Self {
            coingecko: Provider::new("coingecko", delay, config.coingecko_failure_rate),
            coinmarketcap: Provider::new("coinmarketcap", delay, config.coinmarketcap_failure_rate),
            tariffs: Provider::new("tariffs", delay, 0.0),
        }
    }
}

/// The router's state: its own cache (so several routers can live side by side) and providers.
#[derive(Debug, Clone)]
pub struct AppState {
    cache: Cache,
    providers: Arc<Providers>,
}

impl AppState {
    /// State over `cache` and `providers`.
    pub fn new(cache: Cache, providers: Arc<Providers>) -> Self {
        Self { cache, providers }
    }

    /// The simulated upstreams.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }
}

/// The routes over `state`, at most `per_minute` requests per client IP and minute.
pub fn router(state: AppState, per_minute: u64) -> Router {
    let limit = Arc::new(RateLimit::fixed(
        "http",
        per_minute,
        Duration::from_secs(60),
    ));
    Router::new()
        .route("/api/v1/sessions", post(sessions::create))
        .route(
            "/api/v1/sessions/{user_id}",
            get(sessions::read).delete(sessions::logout),
        )
        .route("/api/v1/rates/{currency}", get(rates::get_rate))
        .route(
            "/api/v1/tariffs/{country}/{provider}",
            get(rates::get_tariff),
        )
        .layer(middleware::from_fn_with_state(state.clone(), in_cache))
        .layer(RateLimitLayer::new(limit, client_ip).cache(state.cache.clone()))
        .with_state(state)
}

/// Runs the request with the state's cache as the one `#[cached]` functions and keyspaces use.
async fn in_cache(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.cache.scope(next.run(request)).await
}
