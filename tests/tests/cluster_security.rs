//! Passwords on a real Redis Cluster (issue 13: "TLS and auth work the same way as for a single
//! server"; TLS on a cluster is in `tls.rs`, beside TLS on one server): nodes that demand a
//! password, the right one in the node URLs caches, a wrong one runs every call uncached and
//! says that authentication failed, as `connection_errors.rs` checks for one server.
//!
//! Every test starts its own six-node cluster (`RedisCluster::start_with`), whose replication
//! uses the same password as the clients.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache, CacheBuilder};
use cache_tests::inspect::{entry_value, runs, total_errors, total_hits};
use cache_tests::{ClusterOptions, RedisCluster};

/// A cache from settings as the environment gives them, with a breaker that never opens in
/// these tests: every call goes to the cluster.
async fn cache_from(pairs: &[(&str, String)], cluster: &RedisCluster) -> Cache {
    let vars = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()));
    CacheBuilder::from_vars(vars)
        .map(|builder| builder.breaker(1_000, Duration::from_secs(60)))
        .unwrap_or_else(|e| panic!("settings: {e}"))
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", cluster.log()))
}

/// The value of the entry at `key`, read through the fixture's own (authenticated, TLS)
/// cluster connection.
async fn stored(cluster: &RedisCluster, key: &str) -> Option<Vec<u8>> {
    let raw: Option<Vec<u8>> = redis::cmd("GET")
        .arg(key)
        .query_async(&mut cluster.connection().await)
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e}\n{}", cluster.log()));
    entry_value(&raw?)
}

static DOUBLES: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "cluster_secret_double:{n}", ttl = "1h")]
async fn secret_double(n: u64) -> u64 {
    DOUBLES.fetch_add(1, Ordering::SeqCst);
    n * 2
}

static GUESSES: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "cluster_wrong_password:{n}", ttl = "1h")]
async fn wrong_password(n: u64) -> u64 {
    GUESSES.fetch_add(1, Ordering::SeqCst);
    n + 100
}

#[tokio::test]
async fn a_password_in_the_node_urls_caches() {
    let cluster = RedisCluster::start_with(ClusterOptions {
        password: Some("cluster-secret".to_owned()),
        ..ClusterOptions::default()
    });
    let nodes = cluster.urls();
    assert!(
        nodes
            .iter()
            .all(|url| url.starts_with("redis://:cluster-secret@127.0.0.1:")),
        "{nodes:?}"
    );
    // The nodes do demand it.
    let port = cluster.masters()[0];
    let refused = redis::cmd("GET")
        .arg("anything")
        .query_async::<Option<String>>(
            &mut redis::Client::open(format!("redis://127.0.0.1:{port}"))
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("NOAUTH"), "{refused}");

    let cache = cache_from(&[("REDIS_CLUSTER_NODES", nodes.join(","))], &cluster).await;
    assert_eq!(cache.scope(secret_double(21)).await, 42);
    assert_eq!(cache.scope(secret_double(21)).await, 42);
    assert_eq!(
        runs(&DOUBLES),
        1,
        "the second call is a hit with the password: {:?}\n{}",
        cache.health().await,
        cluster.log()
    );
    assert_eq!(total_hits(&cache), 1);
    let key = cache
        .scope(async { secret_double_cache(21).key() })
        .await
        .expect("a key");
    assert_eq!(stored(&cluster, &key).await.as_deref(), Some(&b"42"[..]));
    assert!(cache.health().await.reachable);
}

/// Nodes that demand `cluster-secret`, given another: every call returns the function's own
/// result, runs it, and stores nothing; the store says why, as it does for a single server
/// (`connection_errors.rs`: `connection_problem` holds "authentication failed").
#[tokio::test]
async fn a_wrong_password_in_the_node_urls_runs_uncached_and_says_authentication_failed() {
    let cluster = RedisCluster::start_with(ClusterOptions {
        password: Some("cluster-secret".to_owned()),
        ..ClusterOptions::default()
    });
    let wrong: Vec<String> = cluster
        .urls()
        .iter()
        .map(|url| url.replace(":cluster-secret@", ":not-the-secret@"))
        .collect();
    let guessing = cache_from(&[("REDIS_CLUSTER_NODES", wrong.join(","))], &cluster).await;
    // What the caller sees, and what the cluster holds.
    for call in 1..=3 {
        assert_eq!(guessing.scope(wrong_password(7)).await, 107);
        assert_eq!(runs(&GUESSES), call, "every call runs the function");
    }
    assert_eq!(total_hits(&guessing), 0);
    assert!(total_errors(&guessing) > 0, "{:?}", guessing.stats());
    let keys = cluster.keys().await;
    assert!(keys.is_empty(), "nothing was stored: {keys:?}");
    let health = guessing.health().await;
    assert!(!health.reachable, "{health:?}");
    assert!(health.error.is_some(), "{health:?}");

    // Why, as for a single server: in the stats and among the health report's warnings. Each
    // call is a chance for the store to see the refusal; bounded.
    let problem = |cache: &Cache| cache.stats().store.connection_problem.unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !problem(&guessing).contains("authentication failed") {
        assert!(
            Instant::now() < deadline,
            "the store does not say `authentication failed` within 10 s of calls;\nstats: {:?}\nhealth: {:?}",
            guessing.stats(),
            guessing.health().await
        );
        assert_eq!(guessing.scope(wrong_password(7)).await, 107);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let health = guessing.health().await;
    assert!(
        health
            .warnings
            .iter()
            .any(|w| w.contains("authentication failed")),
        "{health:?}"
    );
}
