//! `GET /health/detailed` in the seed's shape, from `Cache::health()` (Redis's `PING` and
//! `INFO`): `{"status", "services": {"redis": {"status", "connected", "hit_rate_percent",
//! "memory_usage", "total_commands", "uptime_seconds", "connected_clients"}}}`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::AppState;

/// `GET /health/detailed`: always `200`; `status` is `degraded` while Redis does not answer
/// (the service still answers, uncached).
pub async fn detailed(State(state): State<AppState>) -> Json<Value> {
    let health = state.cache().health().await;
    let percent = |rate: f64| (rate * 1000.0).round() / 10.0;
    let uses_redis = health.backend.starts_with("redis");
    let healthy = health.reachable || !uses_redis;
    let mut services = json!({
        "cache": {
            "backend": health.backend,
            "breaker": health.breaker,
            "hit_rate_percent": health.hit_rate.map(percent),
        }
    });
    if uses_redis {
        let info = health.redis.clone().unwrap_or_default();
        services["redis"] = json!({
            "status": if health.reachable { "healthy" } else { "unhealthy" },
            "connected": health.reachable,
            "hit_rate_percent": info.hit_rate.map(percent),
            "memory_usage": info.used_memory_human,
            "total_commands": info.total_commands_processed,
            "uptime_seconds": info.uptime_in_seconds,
            "connected_clients": info.connected_clients,
            "error": health.error,
        });
    }
    Json(json!({
        "status": if healthy { "healthy" } else { "degraded" },
        "services": services,
    }))
}
