//! Warming against a Redis the test starts: a companion's `refresh_with` recomputes one entry
//! whatever the cache holds, `warm` calls a function for many inputs with bounded concurrency,
//! and `Cache::popular` names the most requested keys of a function.
//!
//! Each test runs on a single server (`single::…`) and on a three-master cluster
//! (`cluster::…`), see [`cache_tests::backend`]; the outage test kills its server and runs on
//! a single server only.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use cache_runtime::{cached, warm_with_progress, Warmed};
use cache_tests::inspect::{policy, redis_cache, runs};
use cache_tests::{backend_tests, Backend, RedisServer};
use tokio::sync::Barrier;

static PRICE: AtomicU32 = AtomicU32::new(100);
static PRICE_FAILS: AtomicBool = AtomicBool::new(false);
static PRICE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "price:{ticker}", ttl = "1m")]
async fn price(ticker: &str) -> Result<u32, String> {
    PRICE_RUNS.fetch_add(1, Ordering::SeqCst);
    if PRICE_FAILS.load(Ordering::SeqCst) {
        return Err(format!("no price for {ticker}"));
    }
    Ok(PRICE.load(Ordering::SeqCst))
}

async fn refresh_recomputes_and_the_next_call_hits_the_new_value(backend: Backend) {
    PRICE.store(100, Ordering::SeqCst);
    PRICE_FAILS.store(false, Ordering::SeqCst);
    PRICE_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    let key = backend.key("v1:_:price:7203");
    cache
        .scope(async {
            assert_eq!(price("7203").await, Ok(100));
            PRICE.store(105, Ordering::SeqCst);
            assert_eq!(price("7203").await, Ok(100), "served from the cache");
            assert_eq!(runs(&PRICE_RUNS), 1);

            let refreshed = price_cache("7203").refresh_with(price("7203")).await;
            assert_eq!(refreshed, Ok(105));
            assert_eq!(runs(&PRICE_RUNS), 2, "the refresh ran the body");

            let hits = policy(&cache, "warming::price").hits;
            assert_eq!(price("7203").await, Ok(105), "the refreshed entry");
            assert_eq!(runs(&PRICE_RUNS), 2, "and it is a hit");
            assert_eq!(policy(&cache, "warming::price").hits, hits + 1);

            // A refresh that fails returns the `Err` and leaves the entry as it was.
            PRICE_FAILS.store(true, Ordering::SeqCst);
            let failed = price_cache("7203").refresh_with(price("7203")).await;
            assert_eq!(failed, Err("no price for 7203".to_owned()));
            assert_eq!(runs(&PRICE_RUNS), 3);
            assert_eq!(price("7203").await, Ok(105));
            assert_eq!(runs(&PRICE_RUNS), 3);

            // A future that does not call the function: its result is stored.
            let given = price_cache("7203").refresh_with(async { Ok(110) }).await;
            assert_eq!(given, Ok(110));
            assert_eq!(price("7203").await, Ok(110));
            assert_eq!(runs(&PRICE_RUNS), 3);
        })
        .await;
    // Redis holds the last refresh's value at the entry's name on this backend.
    assert_eq!(
        redis.entry(&key).await.as_deref(),
        Some(&b"110"[..]),
        "{:?}",
        backend.keys().await
    );
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Each call waits for a second one: with a bound of 2, calls run in pairs, so the maximum in
/// flight is exactly 2 (a missing bound shows as more, a bound of 1 as a timeout).
static PAIRS: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(2));

#[cached(key = "report:{n}", ttl = "1m")]
async fn report(n: u32) -> Result<u32, String> {
    let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    MAX_IN_FLIGHT.fetch_max(now, Ordering::SeqCst);
    PAIRS.wait().await;
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    if n == 7 {
        Err("report 7 is broken".to_owned())
    } else {
        Ok(n * 10)
    }
}

async fn warm_reports_progress_and_keeps_to_its_concurrency(backend: Backend) {
    IN_FLIGHT.store(0, Ordering::SeqCst);
    MAX_IN_FLIGHT.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut progress = Vec::new();
    let warming = warm_with_progress(0..10, 2, report, |p: Warmed| progress.push(p.done));
    let warmed = tokio::time::timeout(Duration::from_secs(30), cache.scope(warming))
        .await
        .unwrap_or_else(|_| panic!("warming stalled\n{}", backend.log()));
    assert_eq!((warmed.done, warmed.failed), (10, 1));
    assert_eq!(progress, (1..=10).collect::<Vec<_>>());
    assert_eq!(MAX_IN_FLIGHT.load(Ordering::SeqCst), 2);
    cache
        .scope(async {
            assert_eq!(report_cache(3).peek().await, Some(Ok(30)));
            assert_eq!(report_cache(7).peek().await, None, "an Err is not stored");
        })
        .await;
    // The nine `Ok`s are in Redis, on this backend's names.
    let mut redis = backend.connection().await;
    for n in (0..10).filter(|n| *n != 7) {
        let key = backend.key(&format!("v1:_:report:~{n}"));
        let value = redis.entry(&key).await;
        assert!(
            value.is_some(),
            "no entry at {key}: {:?}",
            backend.keys().await
        );
    }
}

#[cached(key = "item:{id}", ttl = "1m")]
async fn item(id: u32) -> u32 {
    id
}

async fn popular_names_the_hot_keys_first(backend: Backend) {
    let cache = backend.cache().await;
    let hot = cache
        .scope(async {
            // 1 is asked for 40 times, 2 20 times, 3 10 times, among 200 keys asked for once:
            // more distinct keys than are tracked, so the cold ones replace each other.
            let mut cold = 1_000;
            for round in 0..40 {
                item(1).await;
                if round % 2 == 0 {
                    item(2).await;
                }
                if round % 4 == 0 {
                    item(3).await;
                }
                for _ in 0..5 {
                    item(cold).await;
                    cold += 1;
                }
            }
            [
                item_cache(1).key(),
                item_cache(2).key(),
                item_cache(3).key(),
            ]
            .map(Option::unwrap)
        })
        .await;
    assert_eq!(cache.popular("warming::item", 3), hot);
    assert_eq!(cache.popular("warming::item", 1), hot[..1]);
    assert!(cache.popular("warming::nothing", 3).is_empty());
    // The names are the keys the entries have in Redis, usable to read or warm them.
    assert_eq!(hot[0], backend.key("v1:_:item:~1"));
    let mut redis = backend.connection().await;
    for key in &hot {
        assert!(redis.entry(key).await.is_some(), "no entry at {key}");
    }
}

static OUTAGE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "outage_quote:{n}", ttl = "1m")]
async fn outage_quote(n: u32) -> Result<u32, String> {
    OUTAGE_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(n * 2)
}

#[tokio::test]
async fn warming_through_a_redis_killed_half_way_runs_every_input_and_reports_no_failure() {
    let mut server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let before = cache
        .scope(cache_runtime::warm(0..10, 2, outage_quote))
        .await;
    assert_eq!((before.done, before.failed), (10, 0));
    assert_eq!(runs(&OUTAGE_RUNS), 10);
    // Redis dies: warming still calls every input, and a cache failure is not the function's.
    server.kill();
    let during = cache
        .scope(cache_runtime::warm(10..20, 2, outage_quote))
        .await;
    assert_eq!((during.done, during.failed), (10, 0), "{:?}", cache.stats());
    assert_eq!(runs(&OUTAGE_RUNS), 20, "every input ran its function");
    assert!(
        policy(&cache, "warming::outage_quote").errors > 0,
        "the outage is counted: {:?}",
        cache.stats()
    );
}

backend_tests!(
    refresh_recomputes_and_the_next_call_hits_the_new_value,
    warm_reports_progress_and_keeps_to_its_concurrency,
    popular_names_the_hot_keys_first,
);
