//! No caller pattern waits longer than the engine promises: a failing call with `stale_if_error`
//! against a hung server costs one operation timeout, a hung background refresh does not pin its
//! key, callers in a busy loop do not starve the reconnection, and a function that re-enters its
//! own key runs instead of waiting for itself.
//!
//! Every test starts its own `redis-server` (or uses the in-process store) and its own cache;
//! each cached function belongs to one test, so its counters are exact.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{cached, Cache, CacheBuilder, Policy};
use cache_tests::inspect::{policy, runs};
use cache_tests::RedisServer;

/// Polls `condition` every 20 ms with the thread's own sleep (not the runtime's timers) until it
/// holds, for at most `limit`; fails with `what`.
fn blocking_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// stale_if_error against a hung server -----------------------------------------------------------

static STALE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "hung-stale:{id}", ttl = Policy::StockPrice, stale_if_error = "1h")]
async fn failing_with_stale(id: u32) -> Result<u32, String> {
    STALE_RUNS.fetch_add(1, Ordering::SeqCst);
    Err(format!("upstream down for {id}"))
}

#[tokio::test]
async fn with_stale_if_error_a_failing_call_against_a_hung_server_costs_one_timeout() {
    let server = RedisServer::start();
    let read = Duration::from_millis(300);
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .operation_timeout(read)
        .write_timeout(read)
        .build()
        .await
        .unwrap();
    let took = cache
        .scope(async {
            // Warm the connection, so that the timed call below measures deadlines only.
            assert!(failing_with_stale(0).await.is_err());
            server.pause();
            let started = Instant::now();
            let result = failing_with_stale(1).await;
            let took = started.elapsed();
            server.resume();
            assert_eq!(result, Err("upstream down for 1".to_owned()));
            took
        })
        .await;
    assert_eq!(runs(&STALE_RUNS), 2);
    assert!(
        took < read + read / 2,
        "a failing call against a hung server took {took:?}: at most one operation timeout ({read:?}) is promised"
    );
}

// a background refresh that hangs ---------------------------------------------------------------

static REFRESH_RUNS: AtomicUsize = AtomicUsize::new(0);
/// Set while the next run of `hanging_refresh` is to hang forever.
static HANG_NEXT: AtomicBool = AtomicBool::new(false);

#[cached(key = "hanging:{id}", ttl = "1s", refresh_ahead = 0.5)]
async fn hanging_refresh(id: u32) -> u32 {
    REFRESH_RUNS.fetch_add(1, Ordering::SeqCst);
    if HANG_NEXT.swap(false, Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_background_refresh_frees_its_key_after_its_deadline() {
    let cache = CacheBuilder::new().build().await.unwrap();
    let label = concat!(module_path!(), "::hanging_refresh");
    cache
        .scope(async {
            assert_eq!(hanging_refresh(7).await, 7);
            // The first refresh hangs forever.
            HANG_NEXT.store(true, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(5);
            while runs(&REFRESH_RUNS) < 2 {
                assert!(Instant::now() < deadline, "no refresh started within 5 s");
                assert_eq!(hanging_refresh(7).await, 7);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                !HANG_NEXT.load(Ordering::SeqCst),
                "the refresh that hangs runs"
            );
            // Steady hits: once the hung refresh's deadline has passed, a later refresh of the
            // same key runs and completes.
            let deadline = Instant::now() + Duration::from_secs(10);
            while policy(&cache, label).refreshed == 0 {
                assert!(
                    Instant::now() < deadline,
                    "no refresh completed within 10 s after one hung: {:?}",
                    cache.stats()
                );
                assert_eq!(hanging_refresh(7).await, 7);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
}

// callers in a busy loop while Redis restarts ---------------------------------------------------

static BUSY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "busy:{id}", ttl = Policy::MarketData)]
async fn busy_value(id: u32) -> u32 {
    BUSY_RUNS.fetch_add(1, Ordering::SeqCst);
    id * 2
}

/// 16 tasks on 2 workers call a cached function in a loop that never yields by itself (as a
/// warming job does). After Redis is killed and restarted, hits come back: the fast paths (open
/// breaker, in-process hits) take part in tokio's cooperative scheduling, so the loops cannot
/// starve the reconnection and the breaker's probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_in_a_busy_loop_do_not_starve_the_recovery_after_a_restart() {
    let mut server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .breaker(3, Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = tokio::task::JoinSet::new();
    for worker in 0..16u32 {
        let (cache, stop) = (cache.clone(), Arc::clone(&stop));
        callers.spawn(async move {
            cache
                .scope(async move {
                    let mut id = worker;
                    while !stop.load(Ordering::Relaxed) {
                        id = (id + 1) % 64;
                        assert_eq!(busy_value(id).await, id * 2);
                    }
                })
                .await
        });
    }
    // The checks below poll with the thread's own sleep: starved workers drive no timers.
    let counts = |cache: &Cache| {
        let stats = cache.stats();
        let policy = stats.policies.get("market_data");
        policy.map_or((0, 0), |p| (p.hits, p.errors))
    };
    let hits = |cache: &Cache| counts(cache).0;
    blocking_until(Duration::from_secs(10), "hits before the kill", || {
        hits(&cache) > 100
    });
    server.kill();
    let errors = counts(&cache).1;
    blocking_until(
        Duration::from_secs(10),
        "errors while Redis is down",
        || counts(&cache).1 > errors,
    );
    server.restart();
    let restarted = Instant::now();
    let before = hits(&cache);
    let deadline = restarted + Duration::from_secs(15);
    while hits(&cache) < before + 100 {
        assert!(
            Instant::now() < deadline,
            "hits did not come back within 15 s of the restart: {:?}\n{}",
            cache.stats(),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "busy loop: hits back {:?} after the restart",
        restarted.elapsed()
    );
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = callers.join_next().await {
        joined.expect("a caller panicked");
    }
}

// a function that re-enters its own key ---------------------------------------------------------

static REENTRY_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Calls itself with the same key once: `depth` is not part of the key.
#[cached(key = "reentry:{id}", ttl = "1h")]
async fn reentrant(id: u32, depth: u32) -> u32 {
    REENTRY_RUNS.fetch_add(1, Ordering::SeqCst);
    if depth == 0 {
        Box::pin(reentrant(id, 1)).await + 1
    } else {
        id
    }
}

static OUTER_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Two functions with one template: the outer one computes through the inner one.
#[cached(key = "shared-template:{id}", ttl = "1h")]
async fn outer_of_shared(id: u32) -> u32 {
    OUTER_RUNS.fetch_add(1, Ordering::SeqCst);
    inner_of_shared(id).await * 10
}

#[cached(key = "shared-template:{id}", ttl = "1h")]
async fn inner_of_shared(id: u32) -> u32 {
    id
}

#[tokio::test]
async fn a_function_that_re_enters_its_own_key_runs_instead_of_waiting_for_itself() {
    let cache = CacheBuilder::new().build().await.unwrap();
    cache
        .scope(async {
            let value = tokio::time::timeout(Duration::from_secs(5), reentrant(3, 0))
                .await
                .expect("a re-entering call waited for itself");
            assert_eq!(value, 4);
            assert_eq!(runs(&REENTRY_RUNS), 2, "the inner call ran, uncached");
            assert_eq!(reentrant(3, 0).await, 4, "the outer result is cached");
            assert_eq!(runs(&REENTRY_RUNS), 2);

            let value = tokio::time::timeout(Duration::from_secs(5), outer_of_shared(5))
                .await
                .expect("a function calling another with the same key waited for itself");
            assert_eq!(value, 50);
            assert_eq!(runs(&OUTER_RUNS), 1);
        })
        .await;
    let reentered: u64 = cache.stats().policies.values().map(|p| p.reentered).sum();
    assert_eq!(
        reentered,
        2,
        "each re-entry is counted: {:?}",
        cache.stats()
    );
}

// a slow success after the breaker opened -------------------------------------------------------

static STRAGGLER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "straggler:{id}", ttl = Policy::NewsData)]
async fn straggler_value(id: u32) -> u32 {
    STRAGGLER_RUNS.fetch_add(1, Ordering::SeqCst);
    id
}

/// A read let through while the breaker was closed answers late, after a write timed out and
/// opened the breaker: its success says nothing of now and must not close the breaker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_success_after_the_breaker_opened_does_not_close_it() {
    let server = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .operation_timeout(Duration::from_secs(5))
        .write_timeout(Duration::from_millis(50))
        .breaker(1, Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    // Warm the connection.
    assert_eq!(cache.scope(straggler_value(1)).await, 1);
    // The server sleeps for 700 ms: every command waits behind the sleep.
    let (mut sleeper, mut probe) = (server.connection().await, server.connection().await);
    let sleeping = tokio::spawn(async move {
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("0.7")
            .query_async::<()>(&mut sleeper)
            .await
    });
    // Wait until the server is asleep: a PING on another connection stops answering.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "the server never fell asleep");
        let ping = redis::cmd("PING");
        let answered = ping.query_async::<String>(&mut probe);
        if tokio::time::timeout(Duration::from_millis(100), answered)
            .await
            .is_err()
        {
            break;
        }
    }
    // A read, let through now, answers once the server wakes: a straggler.
    let read = tokio::spawn({
        let cache = cache.clone();
        async move { cache.scope(straggler_value(2)).await }
    });
    tokio::task::yield_now().await;
    // A write that times out opens the breaker (threshold 1).
    let invalidated = cache.scope(straggler_value_cache(1).invalidate()).await;
    assert!(invalidated.is_err(), "the write timed out");
    assert_eq!(cache.stats().breaker, cache_runtime::BreakerState::Open);
    assert_eq!(
        read.await.unwrap(),
        2,
        "the straggler's call returns its value"
    );
    // (The sleeper's own client gives up after its response timeout; the server slept anyway.)
    let _ = sleeping.await;
    assert_eq!(
        cache.stats().breaker,
        cache_runtime::BreakerState::Open,
        "a success let through before the breaker opened must not close it"
    );
}
