//! A master of a real Redis Cluster (3 masters, 3 replicas) is killed while tasks call a cached
//! function every few milliseconds: no caller sees an error or a wrong value, and caching resumes
//! by itself once a replica is promoted. The test prints how long hits were missing.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache, CacheBuilder, Policy};
use cache_tests::inspect::{policy, runs};
use cache_tests::RedisCluster;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    id: u64,
    /// Not a round number, so a value from another key or a truncated float would show.
    price: f64,
}

fn quote_of(id: u64) -> Quote {
    Quote {
        id,
        price: id as f64 * 1.1 + 0.1,
    }
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "quote:{id}", ttl = Policy::StockPrice)]
async fn quote(id: u64) -> Result<Quote, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(quote_of(id))
}

/// Keys the tasks cycle through: enough to land on every master.
const KEYS: u64 = 300;
/// Callers.
const TASKS: u64 = 6;

fn hits(cache: &Cache) -> u64 {
    cache
        .stats()
        .policies
        .get("stock_price")
        .map_or(0, |stats| stats.hits)
}

/// Waits (at most `within`) until `cache` has counted `more` hits after `from`.
async fn until_hits(cache: &Cache, from: u64, more: u64, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while hits(cache) < from + more {
        assert!(
            Instant::now() < deadline,
            "{what}: {} hits after {within:?}, wanted {more} more than {from}: {:?}",
            hits(cache),
            cache.stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_master_under_traffic_costs_hits_for_a_while_but_no_caller_an_error_or_a_wrong_value(
) {
    let mut cluster = RedisCluster::start();
    let cache = CacheBuilder::new()
        .cluster_nodes(cluster.urls())
        // Probe often, so that the test sees the end of the outage soon after Redis does.
        .breaker(3, Duration::from_millis(200))
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", cluster.log()));

    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (stop, calls, wrong) = (Arc::clone(&stop), Arc::clone(&calls), Arc::clone(&wrong));
        let cache = cache.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .scope(async move {
                    let mut id = task * 17 % KEYS;
                    while !stop.load(Ordering::Relaxed) {
                        match quote(id).await {
                            Ok(value) if value == quote_of(id) => {}
                            other => {
                                eprintln!("quote({id}) returned {other:?}");
                                wrong.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        calls.fetch_add(1, Ordering::Relaxed);
                        id = (id + 1) % KEYS;
                        // The pace of the traffic, not a wait for an event.
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                })
                .await
        }));
    }

    // Every key is cached and read back before the kill.
    until_hits(&cache, 0, 2 * KEYS, Duration::from_secs(30), "warm-up").await;
    let keys_per_master = cluster.dbsize_per_master().await;
    assert!(
        keys_per_master.iter().all(|(_, keys)| *keys > 0),
        "the entries are not spread over every master: {keys_per_master:?}"
    );

    // Sample the hit counter every few ms from here on: the longest stretch without a new hit
    // is how long the outage cost.
    let sampler = {
        let (cache, stop) = (cache.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let (mut last, mut at, mut longest) = (hits(&cache), Instant::now(), Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let now = hits(&cache);
                if now > last {
                    longest = longest.max(at.elapsed());
                    (last, at) = (now, Instant::now());
                }
            }
            longest
        })
    };

    let victim = cluster.masters()[0];
    let killed_at = Instant::now();
    cluster.kill(victim);
    cluster
        .wait_for_failover(victim, Duration::from_secs(30))
        .await;
    let promoted_after = killed_at.elapsed();

    // Caching resumes by itself: hits again, on every key, the killed master's included.
    let resumed_from = hits(&cache);
    let runs_before = runs(&RUNS);
    until_hits(
        &cache,
        resumed_from,
        2 * KEYS,
        Duration::from_secs(30),
        "after the failover",
    )
    .await;
    let resumed_after = killed_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a caller task panicked");
    }
    let longest_without_hits = sampler.await.expect("the sampler panicked");

    println!(
        "killed master {victim}: replica promoted after {promoted_after:?}, hits back after \
         {resumed_after:?}; longest stretch without a hit {longest_without_hits:?}; \
         {} calls, {} bodies run after the failover, stats {:?}",
        calls.load(Ordering::Relaxed),
        runs(&RUNS) - runs_before,
        policy(&cache, "stock_price")
    );
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "a caller saw an error or a wrong value"
    );
    // The masters that survived hold the entries again, and none is served by the dead node.
    let keys_per_master = cluster.dbsize_per_master().await;
    assert_eq!(keys_per_master.len(), 3, "{keys_per_master:?}");
    assert!(
        keys_per_master
            .iter()
            .all(|(port, keys)| *port != victim && *keys > 0),
        "{keys_per_master:?}"
    );
}
