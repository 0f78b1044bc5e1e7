//! The routes: reads, the forced update, the scheduled pre-warm and the cache statistics.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::coins::{self, CoinData, Tokenomics};
use crate::error::ApiError;
use crate::AppState;

/// The most coins one update may name.
pub const MAX_COINS: usize = 100;

/// The body of `POST /api/update-cache`, in the seed's three shapes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum UpdateRequest {
    /// `{"coin_id": "bitcoin"}`.
    One {
        /// The coin.
        coin_id: String,
    },
    /// `{"coin_ids": ["bitcoin", "ethereum"]}`.
    Many {
        /// The coins.
        coin_ids: Vec<String>,
    },
    /// `{"popular": true, "limit": 20}`: the provider's top `limit` (default 20).
    Popular {
        /// Must be `true`.
        popular: bool,
        /// How many.
        limit: Option<usize>,
    },
}

/// What an update did.
#[derive(Debug, Default, Serialize)]
pub struct UpdateReport {
    /// Coins whose entries were stored.
    pub updated: Vec<String>,
    /// Coins the provider failed for, with why.
    pub failed: Vec<Value>,
}

/// `GET /api/coins/{coin_id}`.
pub async fn get_coin(
    State(state): State<AppState>,
    Path(coin_id): Path<String>,
) -> Result<Json<CoinData>, ApiError> {
    coins::coin_data(state.provider(), &coin_id)
        .await
        .map(Json)
        .map_err(|error| ApiError::unavailable(error.to_string()))
}

/// `GET /api/coins/{coin_id}/tokenomics`.
pub async fn get_tokenomics(
    State(state): State<AppState>,
    Path(coin_id): Path<String>,
) -> Result<Json<Tokenomics>, ApiError> {
    coins::tokenomics(state.provider(), &coin_id)
        .await
        .map(Json)
        .map_err(|error| ApiError::unavailable(error.to_string()))
}

/// `POST /api/update-cache`.
pub async fn update_cache(
    State(state): State<AppState>,
    Json(request): Json<UpdateRequest>,
) -> Result<Json<UpdateReport>, ApiError> {
    let coin_ids = match request {
        UpdateRequest::One { coin_id } => vec![coin_id],
        UpdateRequest::Many { coin_ids } => coin_ids,
        UpdateRequest::Popular { popular: false, .. } => {
            return Err(ApiError::bad_request("`popular` must be true"))
        }
        UpdateRequest::Popular { limit, .. } => {
            let limit = limit.unwrap_or(20).clamp(1, MAX_COINS);
            state
                .provider()
                .popular(limit)
                .await
                .map_err(|error| ApiError::unavailable(format!("the popular list: {error}")))?
        }
    };
    if coin_ids.is_empty()
        || coin_ids.len() > MAX_COINS
        || coin_ids.iter().any(|id| id.trim().is_empty())
    {
        return Err(ApiError::bad_request(format!(
            "name 1 to {MAX_COINS} non-empty coin ids"
        )));
    }
    Ok(Json(update_all(&state, &coin_ids).await))
}

async fn update_all(state: &AppState, coin_ids: &[String]) -> UpdateReport {
    let mut report = UpdateReport::default();
    for coin_id in coin_ids {
        match coins::update_coin(state.provider(), coin_id).await {
            Ok(()) => report.updated.push(coin_id.to_lowercase()),
            Err(error) => report
                .failed
                .push(json!({"coin_id": coin_id, "error": error.to_string()})),
        }
    }
    report
}

/// A running pre-warm task; `rounds` counts the rounds it finished (for tests and logs).
#[derive(Debug)]
pub struct Prewarm {
    /// The task; abort it to stop.
    pub task: JoinHandle<()>,
    /// Finished rounds so far.
    pub rounds: watch::Receiver<u64>,
}

/// Every `every` (the first round at once), stores fresh figures of the provider's top `top`.
pub fn spawn_prewarm(state: AppState, every: Duration, top: usize) -> Prewarm {
    let (done, rounds) = watch::channel(0);
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let round = async {
                match state.provider().popular(top).await {
                    Ok(ids) => {
                        let report = update_all(&state, &ids).await;
                        tracing::info!(
                            updated = report.updated.len(),
                            failed = report.failed.len(),
                            "pre-warmed"
                        );
                    }
                    Err(error) => tracing::warn!(%error, "pre-warm: no popular list"),
                }
            };
            state.cache().scope(round).await;
            done.send_modify(|n| *n += 1);
        }
    });
    Prewarm { task, rounds }
}

/// `GET /api/cache-stats`, from `Cache::health()` (Redis's `INFO`).
pub async fn cache_stats(State(state): State<AppState>) -> Json<Value> {
    let health = state.cache().health().await;
    let redis = health.redis.as_ref();
    let total_keys = redis
        .map(|info| info.keys)
        .or_else(|| health.memory.as_ref().map(|memory| memory.entries));
    Json(json!({
        "connected": health.reachable,
        "total_keys": total_keys,
        "used_memory_human": redis.and_then(|info| info.used_memory_human.clone()),
        "connected_clients": redis.and_then(|info| info.connected_clients),
        "backend": health.backend,
    }))
}
