//! Health: what the store says about itself (for Redis: `PING` and `INFO`), with the runtime's
//! own hit rates and breaker, in one serializable report for a `/health` endpoint. Also the
//! background `PING` of `REDIS_HEALTH_CHECK_INTERVAL`, which lets the breaker notice an outage
//! (and the end of one) without traffic.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::time::MissedTickBehavior;

use crate::breaker::BreakerState;
use crate::engine::Engine;
pub use crate::store::health::{MemoryHealth, RedisHealth};

/// A health report of one cache (see [`crate::Cache::health`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_runtime::ConfigError> {
/// let cache = cache_runtime::CacheBuilder::new().build().await?;
/// let health = cache.health().await;
/// assert!(health.reachable);
/// assert_eq!(health.backend, "memory");
/// assert_eq!(health.memory.map(|m| m.entries), Some(0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Health {
    /// `"redis"`, `"redis+local"`, `"memory"` or `"disabled"`.
    pub backend: &'static str,
    /// Whether the store answered (always for the in-process store; never when disabled).
    pub reachable: bool,
    /// How long `PING` took (Redis only); serialized as `round_trip_ms`.
    #[serde(rename = "round_trip_ms", serialize_with = "as_millis")]
    pub round_trip: Option<Duration>,
    /// Why the store did not answer, when it did not.
    pub error: Option<String>,
    /// The outage breaker in front of Redis.
    pub breaker: BreakerState,
    /// What Redis says in `INFO`, when it answered.
    pub redis: Option<RedisHealth>,
    /// The in-process store, or the local tier in front of Redis.
    pub memory: Option<MemoryHealth>,
    /// The runtime's own hit rate over every policy since start-up (`None` before any lookup).
    pub hit_rate: Option<f64>,
    /// The runtime's hit rate by policy (as in [`crate::Stats::policies`]).
    pub policies: BTreeMap<String, f64>,
    /// What an operator should look at: an open breaker, a server refused or refusing,
    /// `maxmemory_policy` `noeviction`, a replica.
    pub warnings: Vec<String>,
}

fn as_millis<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_some(&(duration.as_secs_f64() * 1000.0)),
        None => serializer.serialize_none(),
    }
}

impl Health {
    fn without_store(backend: &'static str, error: &str) -> Self {
        Self {
            backend,
            reachable: false,
            round_trip: None,
            error: Some(error.to_owned()),
            breaker: BreakerState::Closed,
            redis: None,
            memory: None,
            hit_rate: None,
            policies: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}

/// The health of the cache in use here (see [`crate::Cache::current`]).
pub async fn health() -> Health {
    match Engine::current() {
        Some(engine) => check(&engine).await,
        None => Health::without_store(
            "disabled",
            "no cache is installed: call cache_runtime::init_from_env() at start-up",
        ),
    }
}

/// The report of `engine`'s store, with its counters and breaker.
pub(crate) async fn check(engine: &Engine) -> Health {
    let Some(store) = engine.backend() else {
        return Health::without_store("disabled", "caching is disabled (CACHE_ENABLED=false)");
    };
    let report = store.health().await;
    let stats = engine.stats();
    let (hits, lookups) = stats.policies.values().fold((0, 0), |(hits, lookups), p| {
        (hits + p.hits, lookups + p.hits + p.misses)
    });
    let mut warnings = Vec::new();
    if stats.breaker != BreakerState::Closed {
        warnings.push(format!(
            "the breaker is {}: calls skip Redis and run uncached until a probe succeeds",
            match stats.breaker {
                BreakerState::Open => "open",
                _ => "half-open",
            }
        ));
    }
    warnings.extend(stats.store.refused.iter().cloned());
    warnings.extend(stats.store.connection_problem.iter().cloned());
    warnings.extend(report.redis.iter().flat_map(RedisHealth::warnings));
    Health {
        backend: stats.backend,
        reachable: report.reachable,
        round_trip: report.round_trip,
        error: report.error,
        breaker: stats.breaker,
        redis: report.redis,
        memory: report.memory,
        hit_rate: (lookups > 0).then(|| hits as f64 / lookups as f64),
        policies: stats
            .policies
            .iter()
            .map(|(name, policy)| (name.clone(), policy.hit_rate))
            .collect(),
        warnings,
    }
}

/// Pings the store every `interval` for as long as `engine` lives, under the breaker: an outage
/// opens it without a call having to fail first, and a probe closes it once the server is back.
pub(crate) fn spawn_checks(engine: &Arc<Engine>, interval: Duration) {
    let engine: Weak<Engine> = Arc::downgrade(engine);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick is immediate: the build has just pinged.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(engine) = engine.upgrade() else {
                return;
            };
            if let Some(store) = engine.backend() {
                // Counted by the breaker, and logged by the store when it opens or closes it.
                let _ = store.ping().await;
            }
        }
    });
}
