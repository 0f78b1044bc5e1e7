//! What a call costs Redis, and what the cache keeps there: the commands of a hit and a miss
//! (counted by Redis itself, `INFO commandstats`), the bookkeeping beside the entries, the memory
//! of an entry against a bare `SET … PX`, and invalidation under `allkeys-lru` eviction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cached, tenant, Tag};
use cache_tests::inspect::{get_raw, redis_cache, runs};
use cache_tests::RedisServer;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    ticker: String,
    price: f64,
    version: usize,
}

static QUOTE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "quote:{ticker}", ttl = "1h")]
async fn quote(ticker: &str) -> Quote {
    let version = QUOTE_RUNS.fetch_add(1, Ordering::SeqCst) + 1;
    Quote {
        ticker: ticker.to_owned(),
        price: 101.25,
        version,
    }
}

/// Calls per command since the last `CONFIG RESETSTAT`, from `INFO commandstats`.
async fn commands(redis: &mut MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(redis)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

async fn reset_stats(redis: &mut MultiplexedConnection) {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(redis)
        .await
        .unwrap();
}

/// The commands Redis ran for `call`, but the test's own `INFO`/`CONFIG`.
async fn commands_of<F: std::future::Future>(
    redis: &mut MultiplexedConnection,
    call: F,
) -> HashMap<String, u64> {
    reset_stats(redis).await;
    call.await;
    let mut ran = commands(redis).await;
    ran.remove("info");
    ran.remove("config|resetstat");
    ran
}

#[tokio::test]
async fn a_hit_is_one_mget_and_a_miss_adds_one_set_nx() {
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let mut redis = server.connection().await;
    cache
        .scope(async {
            // The first write of a tenant creates its generations (once).
            quote("warm").await;
            let miss = commands_of(&mut redis, quote("7203")).await;
            assert_eq!(
                miss,
                HashMap::from([("mget".to_owned(), 1), ("set".to_owned(), 1)]),
                "a miss: one MGET (entry and generations), one SET … NX"
            );
            let hit = commands_of(&mut redis, quote("7203")).await;
            assert_eq!(hit, HashMap::from([("mget".to_owned(), 1)]), "a hit");
            assert_eq!(runs(&QUOTE_RUNS), 2);
        })
        .await;
}

static TENANT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "report:{id}", ttl = "1h")]
async fn report(id: u32) -> String {
    TENANT_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("report {id}: {}", "x".repeat(200))
}

#[tokio::test]
async fn bookkeeping_is_one_key_per_tenant_whatever_the_number_of_entries() {
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let mut redis = server.connection().await;
    for tenant in ["acme", "globex"] {
        cache
            .scope(tenant::scope(tenant, async {
                for id in 0..500 {
                    report(id).await;
                }
            }))
            .await;
    }
    let keys = cache_tests::inspect::scan_keys(&mut redis).await;
    let mut bookkeeping: Vec<&String> = keys.iter().filter(|k| k.starts_with("v1:gen")).collect();
    bookkeeping.sort();
    assert_eq!(
        bookkeeping,
        ["v1:gen", "v1:gen:t=acme:", "v1:gen:t=globex:"],
        "the service's generation and one per tenant"
    );
    assert_eq!(keys.len(), 1000 + 3, "one key per entry besides them");

    // An entry costs Redis about what a bare `SET … PX` of its value does: its envelope adds
    // 29 bytes.
    let key = "v1:t=acme:report:~7";
    let raw = get_raw(&mut redis, key).await.unwrap();
    let value = cache_tests::inspect::entry_value(&raw).unwrap();
    let _: () = redis::cmd("SET")
        .arg("bare:report:~7")
        .arg(&value)
        .arg("PX")
        .arg(3_600_000)
        .query_async(&mut redis)
        .await
        .unwrap();
    let usage = |key: &'static str| {
        let mut redis = redis.clone();
        async move {
            redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .query_async::<u64>(&mut redis)
                .await
                .unwrap()
        }
    };
    let (entry, bare) = (usage(key).await, usage("bare:report:~7").await);
    assert!(
        entry <= bare + 48,
        "an entry takes {entry} bytes, a bare SET {bare}"
    );
}

static TAGGED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "analysis:{id}", ttl = "1h", tags = ["sector:{sector}"])]
async fn analysis(id: u32, sector: &str) -> (u32, usize) {
    let _ = sector;
    (id, TAGGED_RUNS.fetch_add(1, Ordering::SeqCst) + 1)
}

#[cached(key = "filler:{id}", ttl = "1h")]
async fn filler(id: u32) -> String {
    format!("{id}:{}", "f".repeat(2000))
}

#[tokio::test]
async fn under_allkeys_lru_eviction_an_invalidation_is_never_undone() {
    let server =
        RedisServer::start_with(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let cache = redis_cache(&server).await;
    let mut redis = server.connection().await;
    cache
        .scope(async {
            let mut before = HashMap::new();
            for id in 0..200 {
                before.insert(id, analysis(id, "energy").await);
            }
            // Fill far past the limit: Redis evicts keys of its own choosing, the bookkeeping
            // included.
            for id in 0..4000 {
                filler(id).await;
            }
            let evicted = {
                let info: String = redis::cmd("INFO")
                    .arg("stats")
                    .query_async(&mut redis)
                    .await
                    .unwrap();
                info.lines()
                    .find_map(|l| l.strip_prefix("evicted_keys:"))
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap()
            };
            assert!(evicted > 0, "the fill made Redis evict");
            cache
                .invalidate_tag(None, &Tag::new("sector").with(&"energy"))
                .await
                .unwrap();
            for id in 0..200 {
                let now = analysis(id, "energy").await;
                assert_ne!(
                    now, before[&id],
                    "analysis({id}) served its value from before the invalidation"
                );
            }
        })
        .await;
}
