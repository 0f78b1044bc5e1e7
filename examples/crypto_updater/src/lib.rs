//! The fifth seed's cache updater as a service: coin data and tokenomics read through the cache,
//! updated on demand (`POST /api/update-cache`) and pre-warmed on a schedule for the popular coins.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/coins/{coin_id}` | [`coins::CoinData`] (`CoinData`, 5 min) |
//! | `GET /api/coins/{coin_id}/tokenomics` | [`coins::Tokenomics`] (`Tokenomics`, 10 min) |
//! | `POST /api/update-cache` | `{"coin_id": …}`, `{"coin_ids": […]}` or `{"popular": true, "limit": N}`: asks the provider and stores, whatever is cached; `{"updated": […], "failed": […]}` |
//! | `GET /api/cache-stats` | `{"connected", "total_keys", "used_memory_human", "connected_clients", "backend"}` |

#![warn(missing_docs)]

pub mod coins;
pub mod config;
pub mod policy;
pub mod update;

pub use example_support::{error, provider, shutdown_signal};

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use cache_runtime::Cache;

use crate::coins::CoinProvider;

/// The router's state: its own cache and the provider.
#[derive(Debug, Clone)]
pub struct AppState {
    cache: Cache,
    provider: Arc<CoinProvider>,
}

impl AppState {
    /// State over `cache` and `provider`.
    pub fn new(cache: Cache, provider: Arc<CoinProvider>) -> Self {
        Self { cache, provider }
    }

    /// The cache the handlers use.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The simulated provider.
    pub fn provider(&self) -> &CoinProvider {
        &self.provider
    }
}

/// The routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/coins/{coin_id}", get(update::get_coin))
        .route(
            "/api/coins/{coin_id}/tokenomics",
            get(update::get_tokenomics),
        )
        .route("/api/update-cache", post(update::update_cache))
        .route("/api/cache-stats", get(update::cache_stats))
        .layer(middleware::from_fn_with_state(state.clone(), in_cache))
        .with_state(state)
}

/// Runs the request with the state's cache as the one `#[cached]` functions use.
async fn in_cache(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.cache.scope(next.run(request)).await
}
