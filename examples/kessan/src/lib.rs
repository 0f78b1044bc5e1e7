//! The second seed's cache layer as a service: a TTL policy per kind of market data, daily API
//! quotas per user, invalidation of everything about one ticker, batch quotes and detailed health.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/tickers/{ticker}/price` | [`market::StockPrice`] (`StockPrice`, 5 min) |
//! | `GET /api/v1/tickers/{ticker}/financials?period=Q3` | a report (`FinancialData`, 24 h) |
//! | `GET /api/v1/tickers/{ticker}/news` | headlines (`NewsData`, 1 h) |
//! | `GET /api/v1/tickers/{ticker}/analysis?kind=short_term` | an analysis (`AiAnalysis`, 6 h) |
//! | `POST /api/v1/tickers/{ticker}/invalidate` | drops every entry tagged `ticker:<TICKER>`: `{"ticker", "invalidated"}` |
//! | `GET /api/v1/quotes?tickers=7203,6758` | `{"quotes": [...], "from_cache": n}`: one `MGET`, then the misses |
//! | `GET /health/detailed` | the seed's health shape (see [`health`]) |
//!
//! Every `/api/v1` route needs `X-User-Id` and counts against that user's daily quota
//! ([`quota`]): past it, `429` with `Retry-After`.

#![warn(missing_docs)]

pub mod config;
pub mod health;
pub mod market;
pub mod policy;
pub mod quota;

pub use example_support::{error, provider, shutdown_signal};

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use cache_runtime::limit::Quota;
use cache_runtime::Cache;

use crate::config::ServiceConfig;
use crate::provider::Provider;

/// The simulated upstreams, one per kind of data.
#[derive(Debug)]
pub struct Market {
    /// Prices.
    pub prices: Provider,
    /// Financial reports.
    pub financials: Provider,
    /// News.
    pub news: Provider,
    /// The (expensive) analysis model.
    pub analyst: Provider,
}

impl Market {
    /// Upstreams as `config` describes them.
    pub fn from_config(config: &ServiceConfig) -> Self {
        let (delay, rate) = (config.provider_delay, config.provider_failure_rate);
        Self {
            prices: Provider::new("prices", delay, rate),
            financials: Provider::new("financials", delay, rate),
            news: Provider::new("news", delay, rate),
            analyst: Provider::new("analyst", delay, rate),
        }
    }
}

/// The router's state: its own cache, upstreams and quota.
#[derive(Debug, Clone)]
pub struct AppState {
    cache: Cache,
    market: Arc<Market>,
    quota: Arc<Quota>,
}

impl AppState {
    /// State over `cache` and `market`, allowing `quota_per_day` requests per user and UTC day.
    pub fn new(cache: Cache, market: Arc<Market>, quota_per_day: u64) -> Self {
        let quota = Arc::new(Quota::daily("api_quota", quota_per_day));
        Self {
            cache,
            market,
            quota,
        }
    }

    /// The cache the handlers use.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The simulated upstreams.
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// The daily quota per user.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }
}

/// The routes over `state`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/v1/tickers/{ticker}/price", get(market::get_price))
        .route(
            "/api/v1/tickers/{ticker}/financials",
            get(market::get_financials),
        )
        .route("/api/v1/tickers/{ticker}/news", get(market::get_news))
        .route(
            "/api/v1/tickers/{ticker}/analysis",
            get(market::get_analysis),
        )
        .route(
            "/api/v1/tickers/{ticker}/invalidate",
            post(market::invalidate),
        )
        .route("/api/v1/quotes", get(market::get_quotes))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            quota::enforce,
        ));
    Router::new()
        .merge(api)
        .route("/health/detailed", get(health::detailed))
        .layer(middleware::from_fn_with_state(state.clone(), in_cache))
        .with_state(state)
}

/// Runs the request with the state's cache as the one `#[cached]` functions and quotas use.
async fn in_cache(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.cache.scope(next.run(request)).await
}
