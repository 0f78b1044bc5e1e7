//! Health endpoints: `/healthz` for load balancers (always `200`; `ok`, or `degraded: <reason>`
//! while the cache cannot use Redis, since the service still answers, only slower), and
//! `/health/detailed` for people and dashboards, in the shape of the platform's other services.

use axum::extract::State;
use axum::Json;
use cache_runtime::{BreakerState, Health};
use serde::Serialize;

use crate::state::AppState;

/// `GET /healthz`: `ok`, or `degraded: <reason>` when Redis is unreachable or the cache's
/// breaker is open. Always `200`: the service answers either way, uncached.
pub async fn healthz(State(state): State<AppState>) -> String {
    match degraded(&state.cache().health().await) {
        None => "ok".to_owned(),
        Some(reason) => format!("degraded: {reason}"),
    }
}

/// Why the service runs degraded, if it does.
fn degraded(health: &Health) -> Option<String> {
    if !uses_redis(health) {
        return None;
    }
    if !health.reachable {
        let error = health.error.as_deref().unwrap_or("no answer");
        return Some(format!(
            "redis unreachable ({error}); requests are served uncached"
        ));
    }
    if health.breaker != BreakerState::Closed {
        return Some(
            "the cache's breaker is open after Redis failures; requests are served uncached until it closes"
                .to_owned(),
        );
    }
    None
}

fn uses_redis(health: &Health) -> bool {
    health.backend.starts_with("redis")
}

/// The body of `/health/detailed`.
#[derive(Debug, Serialize)]
pub struct Detailed {
    /// `healthy` or `degraded`.
    pub status: &'static str,
    /// Why, when `degraded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One entry per backing service.
    pub services: Services,
}

/// The services behind the dashboard.
#[derive(Debug, Serialize)]
pub struct Services {
    /// Redis, when the cache uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisService>,
    /// The cache as this process sees it: backend, breaker, its own hit rate.
    pub cache: CacheService,
}

/// Redis, from its `INFO`. Figures are `null` while it does not answer.
#[derive(Debug, Serialize)]
pub struct RedisService {
    /// `healthy` or `unhealthy`.
    pub status: &'static str,
    /// Whether it answered `PING` just now.
    pub connected: bool,
    /// Redis's own hit rate over every client, in percent (`keyspace_hits` and `_misses`).
    pub hit_rate_percent: Option<f64>,
    /// `used_memory_human`, e.g. `1.02M`.
    pub memory_usage: Option<String>,
    /// `total_commands_processed`.
    pub total_commands: Option<u64>,
    /// `uptime_in_seconds`.
    pub uptime_seconds: Option<u64>,
    /// `connected_clients`.
    pub connected_clients: Option<u64>,
    /// `redis_version`.
    pub version: Option<String>,
    /// Things to look at, e.g. `maxmemory_policy` `noeviction`.
    pub warnings: Vec<String>,
}

/// The cache in this process.
#[derive(Debug, Serialize)]
pub struct CacheService {
    /// `redis`, `redis+local`, `memory` or `disabled`.
    pub backend: &'static str,
    /// The breaker in front of Redis.
    pub breaker: BreakerState,
    /// This process's hit rate over every panel, in percent; `null` before the first lookup.
    pub hit_rate_percent: Option<f64>,
    /// Entries in the in-process store (or local tier), if there is one.
    pub local_entries: Option<u64>,
}

/// `GET /health/detailed`.
pub async fn detailed(State(state): State<AppState>) -> Json<Detailed> {
    Json(report(state.cache().health().await))
}

fn report(health: Health) -> Detailed {
    let reason = degraded(&health);
    let percent = |rate: f64| (rate * 1000.0).round() / 10.0;
    let redis = uses_redis(&health).then(|| {
        let info = health.redis.clone().unwrap_or_default();
        RedisService {
            status: if health.reachable {
                "healthy"
            } else {
                "unhealthy"
            },
            connected: health.reachable,
            hit_rate_percent: info.hit_rate.map(percent),
            memory_usage: info.used_memory_human,
            total_commands: info.total_commands_processed,
            uptime_seconds: info.uptime_in_seconds,
            connected_clients: info.connected_clients,
            version: info.version,
            warnings: health.warnings.clone(),
        }
    });
    Detailed {
        status: if reason.is_some() {
            "degraded"
        } else {
            "healthy"
        },
        reason,
        services: Services {
            redis,
            cache: CacheService {
                backend: health.backend,
                breaker: health.breaker,
                hit_rate_percent: health.hit_rate.map(percent),
                local_entries: health.memory.map(|memory| memory.entries),
            },
        },
    }
}
