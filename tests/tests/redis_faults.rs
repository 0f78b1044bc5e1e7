//! The Redis backend when things go wrong: no server, a server killed and restarted, a paused
//! server, and entries the cache did not write. In every case a call returns what the function
//! returns for its arguments, and caching comes back once Redis does.
//!
//! Every test starts its own `redis-server` (or none) and builds its own [`Cache`], used through
//! [`Cache::scope`]; each cached function belongs to one test, so its counter is exact.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{cached, BreakerState, Cache, CacheBuilder, Policy};
use cache_tests::inspect::{get_entry, json, policy, runs};
use cache_tests::{free_port, RedisServer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    ticker: String,
    price: f64,
}

/// What the uncached function returns for `ticker`.
fn fresh_quote(ticker: &str) -> Quote {
    Quote {
        ticker: ticker.to_owned(),
        price: ticker.bytes().map(f64::from).sum::<f64>() / 10.0,
    }
}

/// Calls `call` every 50 ms until the `label` policy counts one more hit than `hits_before`, for
/// at most 15 s; fails with the server's log and the stats otherwise.
async fn until_a_hit<F, Fut>(cache: &Cache, server: &RedisServer, label: &str, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let hits_before = policy(cache, label).hits;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        call().await;
        if policy(cache, label).hits > hits_before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no cache hit within 15 s after Redis came back; stats: {:?}\nredis log:\n{}",
            cache.stats(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// 6. nothing listening -----------------------------------------------------------------------

static OFFLINE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "offline:{n}", ttl = Policy::MarketData)]
async fn offline_price(n: u32) -> Result<u32, String> {
    OFFLINE_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(n * 10)
}

#[tokio::test]
async fn with_nothing_listening_calls_return_the_functions_results_and_the_breaker_opens() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let cache = CacheBuilder::new()
        .redis_url(&url)
        .build()
        .await
        .expect("a URL with no server behind it is not a start-up error");
    assert_eq!(cache.stats().backend, "redis");

    let started = Instant::now();
    cache
        .scope(async {
            for n in 0..20 {
                assert_eq!(offline_price(n % 4).await, Ok(n % 4 * 10));
            }
        })
        .await;
    let elapsed = started.elapsed();

    assert_eq!(
        runs(&OFFLINE_RUNS),
        20,
        "nothing can be cached: every call runs"
    );
    let stats = policy(&cache, "market_data");
    assert_eq!((stats.hits, stats.misses), (0, 20), "{stats:?}");
    assert!(stats.errors > 0, "failures are counted: {stats:?}");
    assert_eq!(
        cache.stats().breaker,
        BreakerState::Open,
        "consecutive failures open the breaker"
    );
    // A sanity bound, not a performance claim: no call waits on a retry loop.
    assert!(
        elapsed < Duration::from_secs(2),
        "20 calls took {elapsed:?}"
    );
}

// 7. the server dies and comes back ----------------------------------------------------------

static KILLED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "live:{ticker}", ttl = Policy::StockPrice)]
async fn live_quote(ticker: &str) -> Result<Quote, String> {
    KILLED_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(fresh_quote(ticker))
}

#[tokio::test]
async fn a_killed_server_falls_back_to_the_function_and_caching_resumes_after_a_restart() {
    let mut server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .breaker(3, Duration::from_millis(200))
        .build()
        .await
        .unwrap();

    cache
        .scope(async {
            // Warm: a miss, then a hit.
            assert_eq!(live_quote("7203").await, Ok(fresh_quote("7203")));
            assert_eq!(live_quote("7203").await, Ok(fresh_quote("7203")));
            assert_eq!(runs(&KILLED_RUNS), 1);
            assert_eq!(policy(&cache, "stock_price").hits, 1);

            server.kill();
            let tickers = ["7203", "6758", "9984"];
            for i in 0..12 {
                let ticker = tickers[i % tickers.len()];
                assert_eq!(
                    live_quote(ticker).await,
                    Ok(fresh_quote(ticker)),
                    "while Redis is down, call {i} must return the function's own result"
                );
                assert_eq!(
                    runs(&KILLED_RUNS),
                    2 + i,
                    "nothing can be a hit while Redis is down"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let stats = policy(&cache, "stock_price");
            assert_eq!(stats.hits, 1, "{stats:?}");
            assert!(stats.errors > 0, "the outage is counted: {stats:?}");

            // Same port, empty server.
            server.restart();
            until_a_hit(&cache, &server, "stock_price", || async {
                assert_eq!(live_quote("7203").await, Ok(fresh_quote("7203")));
            })
            .await;
            assert_eq!(live_quote("7203").await, Ok(fresh_quote("7203")));
            assert_eq!(cache.stats().breaker, BreakerState::Closed);
        })
        .await;

    let mut redis = server.connection().await;
    assert_eq!(
        get_entry(&mut redis, "v1:_:live:7203").await,
        Some(json(&fresh_quote("7203"))),
        "the entry is written again after the restart"
    );
}

// 8. entries the cache did not write ---------------------------------------------------------

static GARBAGE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "garbage:{ticker}", ttl = Policy::NewsData)]
async fn garbage_quote(ticker: &str) -> Quote {
    GARBAGE_RUNS.fetch_add(1, Ordering::SeqCst);
    fresh_quote(ticker)
}

#[tokio::test]
async fn undecodable_bytes_are_a_counted_miss_and_are_overwritten_with_json() {
    let server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .unwrap();
    let mut redis = server.connection().await;
    let key = "v1:_:garbage:7203";
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(&b"\xff\x00not json"[..])
        .query_async(&mut redis)
        .await
        .unwrap();

    cache
        .scope(async {
            assert_eq!(garbage_quote("7203").await, fresh_quote("7203"));
            assert_eq!(runs(&GARBAGE_RUNS), 1);
            let stats = policy(&cache, "news_data");
            assert_eq!(stats.undecodable, 1, "{stats:?}");
            assert_eq!((stats.hits, stats.misses), (0, 1), "{stats:?}");
            assert_eq!(
                get_entry(&mut redis, key).await,
                Some(json(&fresh_quote("7203"))),
                "the garbage is replaced by the value's JSON"
            );

            assert_eq!(garbage_quote("7203").await, fresh_quote("7203"));
            assert_eq!(runs(&GARBAGE_RUNS), 1, "the rewritten entry is a hit");
            assert_eq!(policy(&cache, "news_data").undecodable, 1);
        })
        .await;
}

static WRONG_TYPE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "headlines:{id}", ttl = Policy::NewsData)]
async fn headlines(id: u32) -> Vec<String> {
    WRONG_TYPE_RUNS.fetch_add(1, Ordering::SeqCst);
    vec![format!("headline {id}"), "markets close higher".to_owned()]
}

#[tokio::test]
async fn a_key_of_the_wrong_type_is_replaced_by_the_json_string() {
    let server = RedisServer::start();
    // A breaker that opens on the first outage-like failure: WRONGTYPE must not count as one.
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .breaker(1, Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let mut redis = server.connection().await;
    let key = "v1:_:headlines:~3";
    let _: () = redis::cmd("RPUSH")
        .arg(key)
        .arg("not")
        .arg("ours")
        .query_async(&mut redis)
        .await
        .unwrap();
    let expected = vec!["headline 3".to_owned(), "markets close higher".to_owned()];

    cache
        .scope(async {
            assert_eq!(headlines(3).await, expected);
            assert_eq!(runs(&WRONG_TYPE_RUNS), 1);
            let stats = policy(&cache, "news_data");
            assert_eq!(
                stats.errors, 0,
                "a key of another type reads as a miss and is overwritten: {stats:?}"
            );
            assert_eq!(
                cache.stats().breaker,
                BreakerState::Closed,
                "a server that answers with an error is not an outage"
            );
            let kind: String = redis::cmd("TYPE")
                .arg(key)
                .query_async(&mut redis)
                .await
                .unwrap();
            assert_eq!(kind, "string");
            assert_eq!(get_entry(&mut redis, key).await, Some(json(&expected)));

            assert_eq!(headlines(3).await, expected);
            assert_eq!(runs(&WRONG_TYPE_RUNS), 1, "the rewritten entry is a hit");
        })
        .await;
}

// 11. a server that stops answering ----------------------------------------------------------

static PAUSED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "paused:{id}", ttl = Policy::StockPrice)]
async fn paused_value(id: u32) -> u32 {
    PAUSED_RUNS.fetch_add(1, Ordering::SeqCst);
    id * 3
}

#[tokio::test]
async fn a_paused_server_costs_a_call_its_read_deadline_then_nothing_then_caching_resumes() {
    let server = RedisServer::start();
    let read = Duration::from_millis(250);
    let write = Duration::from_millis(250);
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .operation_timeout(read)
        .write_timeout(write)
        .breaker(3, Duration::from_millis(500))
        .build()
        .await
        .unwrap();

    cache
        .scope(async {
            assert_eq!(paused_value(1).await, 3);
            assert_eq!(paused_value(1).await, 3);
            assert_eq!(runs(&PAUSED_RUNS), 1);

            server.pause();
            let mut took = Vec::new();
            for call in 0..4 {
                let started = Instant::now();
                let value = paused_value(1).await;
                took.push(started.elapsed());
                assert_eq!(value, 3, "call {call}: the function's own value");
                assert_eq!(runs(&PAUSED_RUNS), 2 + call);
            }
            server.resume();

            // Calls 0 to 2: the GET waits for its deadline and, the store being unreachable,
            // the computed value is not written (no second deadline). The third timeout opens
            // the breaker, so call 3 does not ask Redis at all.
            for (call, took) in took.iter().enumerate().take(3) {
                assert!(
                    *took >= read && *took < read + write / 2,
                    "call {call} against a paused server took {took:?}"
                );
            }
            assert!(
                took[3] < read / 2,
                "with the breaker open no call waits for a deadline: {took:?}"
            );
            let stats = policy(&cache, "stock_price");
            assert!(stats.errors >= 3, "the timeouts are counted: {stats:?}");
            assert_eq!(stats.hits, 1, "{stats:?}");

            until_a_hit(&cache, &server, "stock_price", || async {
                assert_eq!(paused_value(1).await, 3);
            })
            .await;
            assert_eq!(cache.stats().breaker, BreakerState::Closed);
        })
        .await;
}

static PAUSED_README_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "paused-readme:{id}", ttl = Policy::StockPrice)]
async fn paused_readme_value(id: u32) -> u32 {
    PAUSED_README_RUNS.fetch_add(1, Ordering::SeqCst);
    id * 5
}

/// README, "What the caller sees when things fail": a paused server costs a call "at most the
/// operation timeout": once the read has timed out, the engine does not also wait for a write.
#[tokio::test]
async fn a_paused_server_costs_a_call_at_most_the_operation_timeout() {
    let server = RedisServer::start();
    let read = Duration::from_millis(200);
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .operation_timeout(read)
        .build()
        .await
        .unwrap();
    let started = cache
        .scope(async {
            server.pause();
            let started = Instant::now();
            assert_eq!(paused_readme_value(1).await, 5);
            started
        })
        .await;
    let took = started.elapsed();
    server.resume();
    assert_eq!(runs(&PAUSED_README_RUNS), 1);
    assert!(
        took < read + Duration::from_millis(100),
        "a call against a paused server took {took:?}; README: at most the operation timeout ({read:?})"
    );
}
