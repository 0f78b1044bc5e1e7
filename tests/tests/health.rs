//! Health against real servers: what `Cache::health` reads from `PING` and `INFO`, what it says
//! with the server killed or hung (within the operation timeout, no panic), the in-process
//! store's answer, and the background `PING` of `REDIS_HEALTH_CHECK_INTERVAL`, which opens and
//! closes the breaker with no call at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{cached, BreakerState, Cache, CacheBuilder};
use cache_tests::{RedisCluster, RedisServer};

static CUBES: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "health_cube:{n}", ttl = "1h")]
async fn cube(n: u64) -> u64 {
    CUBES.fetch_add(1, Ordering::SeqCst);
    n * n * n
}

async fn redis_cache(url: String, server: &RedisServer) -> Cache {
    CacheBuilder::new()
        .redis_url(url)
        .operation_timeout(Duration::from_millis(250))
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", server.log()))
}

/// Waits for `condition`, checking every 10 ms, for at most `limit`.
async fn until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_live_server_reports_what_info_says() {
    let server = RedisServer::start();
    // Database 3, to see that the key count is that database's.
    let cache = redis_cache(format!("{}/3", server.url()), &server).await;
    assert_eq!(cache.scope(cube(3)).await, 27);
    assert_eq!(cache.scope(cube(3)).await, 27);

    let health = cache.health().await;
    assert_eq!(health.backend, "redis");
    assert!(health.reachable, "{health:?}");
    assert_eq!(health.error, None);
    assert_eq!(health.breaker, BreakerState::Closed);
    let round_trip = health.round_trip.expect("a round trip");
    assert!(round_trip < Duration::from_millis(250), "{round_trip:?}");
    let redis = health.redis.clone().expect("INFO fields");
    assert!(
        redis.version.as_deref().is_some_and(|v| v.starts_with('7')),
        "{redis:?}"
    );
    assert_eq!(redis.role.as_deref(), Some("master"));
    assert!(
        redis.used_memory.is_some_and(|bytes| bytes > 0),
        "{redis:?}"
    );
    assert!(redis
        .used_memory_human
        .as_deref()
        .is_some_and(|h| !h.is_empty()));
    assert_eq!(redis.maxmemory, Some(0));
    assert_eq!(redis.maxmemory_policy.as_deref(), Some("noeviction"));
    assert!(
        health.warnings.iter().any(|w| w.contains("noeviction")),
        "{health:?}"
    );
    assert_eq!(redis.evicted_keys, Some(0));
    assert!(
        redis.keyspace_hits.is_some_and(|hits| hits >= 1),
        "{redis:?}"
    );
    assert!(
        redis.keyspace_misses.is_some_and(|misses| misses >= 1),
        "{redis:?}"
    );
    assert!(
        redis.hit_rate.is_some_and(|rate| rate > 0.0 && rate < 1.0),
        "{redis:?}"
    );
    assert!(redis.connected_clients.is_some_and(|clients| clients >= 1));
    assert!(redis.uptime_in_seconds.is_some());
    assert!(redis.total_commands_processed.is_some_and(|n| n > 3));
    assert_eq!(redis.db, 3);
    let mut connection = redis::Client::open(format!("{}/3", server.url()))
        .expect("a URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let dbsize: u64 = redis::cmd("DBSIZE")
        .query_async(&mut connection)
        .await
        .expect("DBSIZE");
    assert!(dbsize >= 1);
    assert_eq!(redis.keys, dbsize);
    // The runtime's own hit rate: one hit, one miss.
    assert_eq!(health.hit_rate, Some(0.5));
    assert_eq!(
        health.policies.get("health::cube"),
        Some(&0.5),
        "{health:?}"
    );

    // Serializable for an HTTP endpoint.
    let json = serde_json::to_value(&health).expect("serialize");
    assert_eq!(json["redis"]["role"], "master");
    assert!(
        json["round_trip_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{json}"
    );
}

#[tokio::test]
async fn an_evicting_server_has_no_warning() {
    let server =
        RedisServer::start_with(&["--maxmemory", "10mb", "--maxmemory-policy", "allkeys-lru"]);
    let cache = redis_cache(server.url(), &server).await;
    let health = cache.health().await;
    let redis = health.redis.expect("INFO fields");
    assert_eq!(redis.maxmemory, Some(10 << 20));
    assert_eq!(redis.maxmemory_policy.as_deref(), Some("allkeys-lru"));
    assert_eq!(health.warnings, Vec::<String>::new());
}

#[tokio::test]
async fn a_killed_or_hung_server_is_unreachable_within_the_timeout() {
    let mut server = RedisServer::start();
    let cache = redis_cache(server.url(), &server).await;
    assert!(cache.health().await.reachable);

    server.pause();
    let started = Instant::now();
    let health = cache.health().await;
    let waited = started.elapsed();
    server.resume();
    assert!(!health.reachable, "{health:?}");
    assert!(
        health
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timeout")),
        "{health:?}"
    );
    assert!(health.redis.is_none());
    // The operation timeout (250 ms), plus scheduling slack on a busy machine.
    assert!(waited < Duration::from_secs(2), "{waited:?}");

    server.kill();
    let started = Instant::now();
    let health = cache.health().await;
    assert!(!health.reachable, "{health:?}");
    assert!(health.error.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let json = serde_json::to_value(&health).expect("serialize");
    assert_eq!(json["reachable"], false);
    assert_eq!(json["round_trip_ms"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_in_process_store_reports_its_entries() {
    let cache = CacheBuilder::new().build().await.expect("in-process cache");
    cache.install();
    assert_eq!(cache.scope(cube(4)).await, 64);
    let health = cache_runtime::health().await;
    assert_eq!(health.backend, "memory");
    assert!(health.reachable);
    assert_eq!(health.redis, None);
    let memory = health.memory.expect("the store's size");
    assert_eq!(memory.entries, 1);
    assert!(memory.weighted_size > 0);
    assert_eq!(memory.max_bytes, 64 << 20);

    let disabled = CacheBuilder::new()
        .enabled(false)
        .build()
        .await
        .expect("disabled");
    let health = disabled.health().await;
    assert_eq!(health.backend, "disabled");
    assert!(!health.reachable);
    assert!(health
        .error
        .as_deref()
        .is_some_and(|e| e.contains("CACHE_ENABLED")));
}

#[tokio::test]
async fn the_background_ping_opens_and_closes_the_breaker_without_calls() {
    let mut server = RedisServer::start();
    let cache = CacheBuilder::from_vars([
        ("REDIS_URL".to_owned(), server.url()),
        ("REDIS_HEALTH_CHECK_INTERVAL".to_owned(), "50ms".to_owned()),
        ("CACHE_BREAKER_THRESHOLD".to_owned(), "1".to_owned()),
        ("CACHE_BREAKER_COOL_DOWN_MS".to_owned(), "100".to_owned()),
    ])
    .expect("settings")
    .build()
    .await
    .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", server.log()));
    assert_eq!(cache.stats().breaker, BreakerState::Closed);

    server.kill();
    until(
        Duration::from_secs(10),
        "the breaker opens with no call",
        || cache.stats().breaker != BreakerState::Closed,
    )
    .await;

    server.restart();
    until(
        Duration::from_secs(10),
        "the breaker closes with no call",
        || cache.stats().breaker == BreakerState::Closed,
    )
    .await;
    assert!(cache.stats().policies.is_empty(), "no call was made");
}

/// On a cluster the figures are the sums over the masters: the keys the health report counts
/// are every master's keys.
#[tokio::test]
async fn a_clusters_health_counts_the_keys_of_every_master() {
    let cluster = RedisCluster::start();
    let cache = CacheBuilder::new()
        .cluster_nodes(cluster.urls())
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", cluster.log()));
    for n in 0..60 {
        assert_eq!(cache.scope(cube(1000 + n)).await, (1000 + n).pow(3));
    }
    let per_master = cluster.dbsize_per_master().await;
    assert!(
        per_master.iter().all(|(_, keys)| *keys > 0),
        "{per_master:?}"
    );
    let health = cache.health().await;
    assert!(health.reachable, "{health:?}");
    let redis = health.redis.expect("the masters' INFO");
    let keys: u64 = per_master.iter().map(|(_, keys)| keys).sum();
    assert_eq!(redis.keys, keys, "{per_master:?}");
    assert_eq!(redis.role.as_deref(), Some("master"));
}
