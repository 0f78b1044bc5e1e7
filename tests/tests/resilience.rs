//! Faults caused for real: a `redis-server` killed with SIGKILL under load and restarted, a peer
//! that accepts connections and never answers, a thundering herd on one cold key, a server out
//! of memory. In every case a caller gets what its function returns for its arguments, never a
//! cache error, and caching comes back by itself.
//!
//! Every test starts its own `redis-server` (or its own silent peer) and builds its own
//! [`Cache`], used through [`Cache::scope`]; each cached function belongs to one test, so its
//! counters are exact. The tests that break nothing (single flight, the lease, stale copies, early
//! refresh) also run on a cluster (`single::…`, `cluster::…`, see [`cache_tests::backend`]); their
//! two variants take turns and reset the counters first. Timings asserted here are bounds on correctness guarantees ("no call
//! waits longer than the operation timeout"), with generous margins, never performance claims.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{cached, BreakerState, Cache, CacheBuilder, Policy};
use cache_tests::inspect::{get_entry, policy, redis_cache, runs, total_errors, total_hits};
use cache_tests::{backend_tests, Backend, Raw, RedisServer};
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;
use tokio::sync::Notify;
use tokio::task::JoinSet;

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

// 1. SIGKILL under load, twice ---------------------------------------------------------------

static LOAD_QUOTE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "load:quote:{ticker}", ttl = Policy::StockPrice)]
async fn load_quote(ticker: &str) -> Result<Quote, String> {
    LOAD_QUOTE_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(fresh_quote(ticker))
}

/// What the uncached `load_volume` returns for `id`.
fn volume(id: u32) -> u64 {
    u64::from(id) * 1_000 + 7
}

#[cached(key = "load:volume:{id}", ttl = Policy::MarketData)]
async fn load_volume(id: u32) -> u64 {
    volume(id)
}

const LOAD_TICKERS: [&str; 12] = [
    "7203", "6758", "9984", "8306", "6861", "9432", "4063", "6098", "8035", "4502", "7974", "6501",
];
const LOAD_CALLERS: usize = 32;

/// One caller under load: both functions in turn over a set of arguments until `stop`, every
/// result checked against the function's own. The number of calls, or the first wrong result.
async fn load_caller(worker: usize, stop: Arc<AtomicBool>) -> Result<u64, String> {
    let mut calls = 0;
    let mut n = worker;
    while !stop.load(Ordering::SeqCst) {
        let ticker = LOAD_TICKERS[n % LOAD_TICKERS.len()];
        let quote = load_quote(ticker).await;
        if quote != Ok(fresh_quote(ticker)) {
            return Err(format!(
                "caller {worker}, call {calls}: load_quote({ticker}) returned {quote:?}"
            ));
        }
        let id = (n % 16) as u32;
        let got = load_volume(id).await;
        if got != volume(id) {
            return Err(format!(
                "caller {worker}, call {calls}: load_volume({id}) returned {got}, not {}",
                volume(id)
            ));
        }
        calls += 2;
        n += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(calls)
}

/// Fails with the first caller that stopped before it was told to: it saw a wrong value or
/// panicked.
fn no_caller_failed(callers: &mut JoinSet<Result<u64, String>>) {
    if let Some(joined) = callers.try_join_next() {
        match joined {
            Ok(Ok(_)) => panic!("a caller stopped on its own"),
            Ok(Err(wrong)) => panic!("{wrong}"),
            Err(error) => panic!("a caller panicked: {error}"),
        }
    }
}

/// Waits (at most 15 s) until caching works: `cache` counts more hits than `hits_before` and its
/// breaker is closed. How long that took; fails with the stats and the server's log.
async fn until_caching_works(
    cache: &Cache,
    server: &RedisServer,
    hits_before: u64,
    what: &str,
) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(15);
    while total_hits(cache) <= hits_before || cache.stats().breaker != BreakerState::Closed {
        assert!(
            Instant::now() < deadline,
            "{what}: caching did not resume within 15 s (more than {hits_before} hits, breaker closed); stats: {:?}\nredis log:\n{}",
            cache.stats(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_under_load_callers_get_their_functions_values_and_caching_resumes() {
    let mut server = RedisServer::start();
    // The defaults (250 ms timeouts, breaker 3 / 2 s), as a service would run.
    let cache = redis_cache(&server).await;
    let stop = Arc::new(AtomicBool::new(false));

    cache
        .scope(async {
            // `Cache::scope` is task-local: each spawned caller enters it itself.
            let mut callers = JoinSet::new();
            for worker in 0..LOAD_CALLERS {
                let cache = cache.clone();
                let stop = Arc::clone(&stop);
                callers.spawn(async move { cache.scope(load_caller(worker, stop)).await });
            }
            until_caching_works(&cache, &server, 0, "warm-up").await;
            tokio::time::sleep(Duration::from_millis(300)).await;

            for round in 1..=2 {
                let errors_before = total_errors(&cache);
                // kill/restart block on the child process: keep the runtime's other worker free.
                tokio::task::block_in_place(|| server.kill());
                // Replies that were already on their way may still count as hits.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let hits_down = total_hits(&cache);
                tokio::time::sleep(Duration::from_millis(500)).await;
                assert_eq!(
                    total_hits(&cache),
                    hits_down,
                    "round {round}: nothing can be a hit while Redis is dead"
                );
                no_caller_failed(&mut callers);
                assert!(
                    total_errors(&cache) > errors_before,
                    "round {round}: the outage is counted: {:?}",
                    cache.stats()
                );

                // Same port, empty server: a hit now means an entry was written after the restart.
                tokio::task::block_in_place(|| server.restart());
                let resumed = until_caching_works(
                    &cache,
                    &server,
                    hits_down,
                    &format!("round {round}, after the restart"),
                )
                .await;
                let hits_resumed = total_hits(&cache);
                tokio::time::sleep(Duration::from_millis(300)).await;
                // Every argument is cached by now: most calls are hits again, not the odd probe.
                let hits = total_hits(&cache) - hits_resumed;
                println!(
                    "round {round}: caching resumed {resumed:?} after the restart; {hits} hits in the next 300 ms"
                );
                assert!(
                    hits >= 100,
                    "round {round}: only {hits} hits in the 300 ms after caching resumed: {:?}",
                    cache.stats()
                );
                no_caller_failed(&mut callers);
            }

            stop.store(true, Ordering::SeqCst);
            let mut calls = 0;
            while let Some(joined) = callers.join_next().await {
                match joined {
                    Ok(Ok(made)) => calls += made,
                    Ok(Err(wrong)) => panic!("{wrong}"),
                    Err(error) => panic!("a caller panicked: {error}"),
                }
            }
            println!(
                "{calls} calls by {LOAD_CALLERS} callers, every one the function's own value; {} runs of load_quote; stats: {:?}",
                runs(&LOAD_QUOTE_RUNS),
                cache.stats()
            );
        })
        .await;

    assert_eq!(cache.stats().breaker, BreakerState::Closed);
    let mut redis = server.connection().await;
    assert_eq!(
        get_entry(&mut redis, "v1:_:load:quote:7203").await,
        Some(serde_json::to_vec(&fresh_quote("7203")).unwrap()),
        "entries are written again after the second restart"
    );
}

// 2. a peer that accepts and never answers ---------------------------------------------------

/// A peer on a free loopback port that accepts connections and reads what it is sent, and never
/// answers: a black hole, as a hung server or a dropped network looks to a client. Its URL.
async fn silent_peer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let url = format!("redis://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                loop {
                    if socket.readable().await.is_err() {
                        return;
                    }
                    match socket.try_read(&mut buffer) {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
            });
        }
    });
    url
}

static SILENT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "silent:{id}", ttl = Policy::StockPrice)]
async fn silent_value(id: u32) -> u32 {
    SILENT_RUNS.fetch_add(1, Ordering::SeqCst);
    id * 7
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_costs_a_call_at_most_the_timeout_then_nothing() {
    let url = silent_peer().await;
    let timeout = Duration::from_millis(100);
    // Generous: a bound on "no call waits longer than the operation timeout", not a benchmark.
    let margin = Duration::from_millis(100);
    let cool_down = Duration::from_millis(800);
    let cache = CacheBuilder::new()
        .redis_url(&url)
        .operation_timeout(timeout)
        .breaker(3, cool_down)
        .build()
        .await
        .expect("a server that does not answer is not a start-up error");

    cache
        .scope(async {
            // Until the breaker opens, each call waits for its read's deadline. The start-up
            // PING timed out too, so it is one of the three failures.
            let mut waited = Vec::new();
            while cache.stats().breaker != BreakerState::Open {
                assert!(waited.len() < 3, "the breaker is still closed after {waited:?}");
                let started = Instant::now();
                assert_eq!(silent_value(1).await, 7);
                waited.push(started.elapsed());
            }
            assert!(
                waited[0] >= timeout,
                "the first call really asked the silent peer: {waited:?}"
            );
            for took in &waited {
                assert!(
                    *took < timeout + margin,
                    "a call against a silent peer waited {took:?}, more than the operation timeout {timeout:?}: {waited:?}"
                );
            }

            // The breaker is open: calls do not touch the network at all.
            for call in 0..20 {
                let started = Instant::now();
                assert_eq!(silent_value(call).await, call * 7);
                let took = started.elapsed();
                assert!(
                    took < timeout / 2,
                    "call {call} waited {took:?} with the breaker open"
                );
            }
            assert_eq!(runs(&SILENT_RUNS), waited.len() + 20);
            let stats = policy(&cache, "stock_price");
            assert!(
                stats.errors >= waited.len() as u64 + 20,
                "timeouts and skipped calls are counted: {stats:?}"
            );
            assert_eq!(stats.hits, 0, "{stats:?}");
            assert_eq!(cache.stats().breaker, BreakerState::Open);

            // After the cool-down one caller probes; the others at the same moment do not touch
            // the network. (The probe fails fast here: the connection attempt behind it already
            // timed out.) The failed probe opens the breaker again.
            tokio::time::sleep(cool_down + Duration::from_millis(100)).await;
            assert_eq!(cache.stats().breaker, BreakerState::HalfOpen);
            let mut concurrent = JoinSet::new();
            for id in 0..8u32 {
                let cache = cache.clone();
                concurrent.spawn(async move {
                    cache
                        .scope(async move {
                            let started = Instant::now();
                            assert_eq!(silent_value(id).await, id * 7);
                            started.elapsed()
                        })
                        .await
                });
            }
            let mut took = Vec::new();
            while let Some(joined) = concurrent.join_next().await {
                took.push(joined.expect("a concurrent caller panicked"));
            }
            let waited = took.iter().filter(|t| **t >= timeout / 2).count();
            assert!(waited <= 1, "only the probe may wait: {took:?}");
            assert!(
                took.iter().all(|t| *t < timeout + margin),
                "no caller waits longer than the operation timeout: {took:?}"
            );
            assert_eq!(cache.stats().breaker, BreakerState::Open);
        })
        .await;
}

// 3. a thundering herd on one cold key -------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Report {
    id: u32,
    lines: Vec<String>,
}

/// What the uncached report functions return for `id`.
fn report(id: u32) -> Report {
    Report {
        id,
        lines: vec![format!("revenue {id}"), "net income".to_owned()],
    }
}

static HERD_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "herd:{id}", ttl = Policy::FinancialData)]
async fn herd_report(id: u32) -> Result<Report, String> {
    HERD_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(report(id))
}

const HERD: usize = 1000;

async fn a_thousand_concurrent_callers_of_one_cold_key_run_the_function_once(backend: Backend) {
    HERD_RUNS.store(0, Ordering::SeqCst);
    // A thousand lookups at once through one connection, on a machine that may be busy: with the
    // default 250 ms deadlines some of them time out (on the cluster client above all), and a
    // caller that times out runs uncached, as it should. This test is about single flight, so
    // the deadlines are generous.
    let cache = backend
        .build(
            backend
                .builder()
                .operation_timeout(Duration::from_secs(5))
                .write_timeout(Duration::from_secs(5)),
        )
        .await;
    let barrier = Arc::new(Barrier::new(HERD));
    let started = Instant::now();
    let mut callers = JoinSet::new();
    for _ in 0..HERD {
        let cache = cache.clone();
        let barrier = Arc::clone(&barrier);
        callers.spawn(async move {
            cache
                .scope(async move {
                    barrier.wait().await;
                    herd_report(42).await
                })
                .await
        });
    }
    let mut answered = 0;
    while let Some(joined) = callers.join_next().await {
        assert_eq!(joined.expect("a caller panicked"), Ok(report(42)));
        answered += 1;
    }
    println!(
        "{answered} concurrent callers answered in {:?}",
        started.elapsed()
    );
    assert_eq!(answered, HERD);
    assert_eq!(
        runs(&HERD_RUNS),
        1,
        "the function runs once for all concurrent callers; stats: {:?}",
        cache.stats()
    );
    let mut redis = backend.connection().await;
    assert_eq!(
        redis.entry(&backend.key("v1:_:herd:~42")).await,
        Some(serde_json::to_vec(&report(42)).unwrap()),
        "stats: {:?}",
        cache.stats()
    );
}

// 3b. one computation across processes (`lock`) ------------------------------------------------

static LOCKED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "herd:locked:{id}", ttl = Policy::FinancialData, lock = "5s")]
async fn locked_report(id: u32) -> Result<Report, String> {
    LOCKED_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(report(id))
}

static UNLOCKED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The control: the same function without `lock`.
#[cached(key = "herd:unlocked:{id}", ttl = Policy::FinancialData)]
async fn unlocked_report(id: u32) -> Result<Report, String> {
    UNLOCKED_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(report(id))
}

/// Calls `call` from `per_cache` concurrent callers through each of `caches`, all released at
/// once; every result must be `Ok(report(id))`.
async fn herd_through<F, Fut>(caches: &[Cache], per_cache: usize, id: u32, call: F)
where
    F: Fn(u32) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = Result<Report, String>> + Send,
{
    let barrier = Arc::new(Barrier::new(caches.len() * per_cache));
    let mut callers = JoinSet::new();
    for cache in caches {
        for _ in 0..per_cache {
            let cache = cache.clone();
            let barrier = Arc::clone(&barrier);
            callers.spawn(async move {
                cache
                    .scope(async move {
                        barrier.wait().await;
                        call(id).await
                    })
                    .await
            });
        }
    }
    while let Some(joined) = callers.join_next().await {
        assert_eq!(joined.expect("a caller panicked"), Ok(report(id)));
    }
}

async fn with_lock_concurrent_callers_in_two_processes_run_the_function_once(backend: Backend) {
    LOCKED_RUNS.store(0, Ordering::SeqCst);
    UNLOCKED_RUNS.store(0, Ordering::SeqCst);
    // Two caches on one Redis: two connections, two single flights, as in two processes.
    let caches = [backend.cache().await, backend.cache().await];

    herd_through(&caches, 50, 7, locked_report).await;
    assert_eq!(
        runs(&LOCKED_RUNS),
        1,
        "the lease makes one computation across both processes"
    );
    // Control: without the lease each process computes the key once.
    herd_through(&caches, 50, 7, unlocked_report).await;
    assert_eq!(
        runs(&UNLOCKED_RUNS),
        2,
        "without `lock`, single flight is per process"
    );

    let mut redis = backend.connection().await;
    let key = backend.key("v1:_:herd:locked:~7");
    assert_eq!(
        redis.entry(&key).await,
        Some(serde_json::to_vec(&report(7)).unwrap())
    );
    assert_eq!(
        redis.get(&format!("{key}#lock")).await,
        None,
        "the lease is released by its owner"
    );
}

// 4. out of memory ----------------------------------------------------------------------------

static OOM_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "oom:{id}", ttl = Policy::NewsData)]
async fn oom_report(id: u32) -> Report {
    OOM_RUNS.fetch_add(1, Ordering::SeqCst);
    report(id)
}

/// `SET key value` on the test's own connection: `Ok`, or Redis's error code (`OOM`, …).
async fn try_set(redis: &mut MultiplexedConnection, key: &str, value: &[u8]) -> Result<(), String> {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async::<()>(redis)
        .await
        .map_err(|e| e.code().map_or_else(|| e.to_string(), str::to_owned))
}

/// Fills the server until a write fails with OOM, then past that by a wide margin, so that
/// small swings of the server's memory (client buffers) cannot let a write through again.
async fn fill_until_oom(server: &RedisServer, redis: &mut MultiplexedConnection) {
    let value = vec![b'x'; 4 << 10];
    let mut filled = 0;
    loop {
        match try_set(redis, &format!("fill:{filled}"), &value).await {
            Ok(()) => filled += 1,
            Err(code) if code == "OOM" => break,
            Err(other) => panic!("filling the server: {other}\n{}", server.log()),
        }
        assert!(filled < 10_000, "no OOM after {filled} writes of 4 KiB");
    }
    // The server refuses a write only while it is over its limit, and counts the write's own
    // bytes (the query buffer) in its usage: lift the limit for a moment to overshoot it.
    let config_set = |value: &'static str| {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory")
            .arg(value)
            .to_owned()
    };
    let _: () = config_set("0").query_async(redis).await.unwrap();
    try_set(redis, "fill:margin", &vec![b'y'; 256 << 10])
        .await
        .unwrap_or_else(|e| panic!("SET without a limit: {e}"));
    let _: () = config_set("2mb").query_async(redis).await.unwrap();
    assert_eq!(
        try_set(redis, "fill:check", b"x").await,
        Err("OOM".to_owned()),
        "the server refuses writes again\n{}",
        server.log()
    );
}

#[tokio::test]
async fn with_redis_out_of_memory_calls_return_the_functions_values_and_old_entries_still_hit() {
    // An empty redis-server 7 already uses about 0.9 MB: with a 1 MB limit even the entries
    // written before the fill would be refused, so the limit is 2 MB.
    let server =
        RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    // A breaker that would open on the first outage-like failure: OOM must not count as one.
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .breaker(1, Duration::from_secs(30))
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", server.log()));
    let mut redis = server.connection().await;

    cache
        .scope(async {
            for id in 0..4 {
                assert_eq!(oom_report(id).await, report(id));
            }
            assert_eq!(runs(&OOM_RUNS), 4);
            assert_eq!(
                policy(&cache, "news_data").errors,
                0,
                "the entries are written before the fill"
            );

            fill_until_oom(&server, &mut redis).await;
            let before = policy(&cache, "news_data");

            // New keys: the function's value, the failed write counted, nothing stored.
            for id in 100..110 {
                assert_eq!(oom_report(id).await, report(id));
            }
            assert_eq!(runs(&OOM_RUNS), 4 + 10);
            let after = policy(&cache, "news_data");
            assert!(
                after.errors >= before.errors + 10,
                "every refused write is counted: {before:?} -> {after:?}"
            );
            assert_eq!(get_entry(&mut redis, "v1:_:oom:~100").await, None);
            assert_eq!(oom_report(100).await, report(100));
            assert_eq!(runs(&OOM_RUNS), 4 + 11, "nothing was cached for a new key");

            // Entries cached before the fill are still served.
            for id in 0..4 {
                assert_eq!(oom_report(id).await, report(id));
            }
            assert_eq!(runs(&OOM_RUNS), 4 + 11, "old entries still hit");
            assert_eq!(policy(&cache, "news_data").hits, after.hits + 4);
            assert_eq!(
                cache.stats().breaker,
                BreakerState::Closed,
                "a server that answers OOM is up"
            );
        })
        .await;
}

// 4b. a write cut short by the memory limit ---------------------------------------------------

static PRESSURE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "pressure:{id}", ttl = Policy::AiAnalysis)]
async fn pressure_report(id: u32) -> Report {
    PRESSURE_RUNS.fetch_add(1, Ordering::SeqCst);
    report(id)
}

/// Writes `value` under `fill:{n}` from `*filled` on until the server refuses one with OOM.
async fn fill_with(
    server: &RedisServer,
    redis: &mut MultiplexedConnection,
    filled: &mut Vec<String>,
    value: &[u8],
) {
    loop {
        let key = format!("fill:{}", filled.len());
        match try_set(redis, &key, value).await {
            Ok(()) => filled.push(key),
            Err(code) if code == "OOM" => return,
            Err(other) => panic!("filling the server: {other}\n{}", server.log()),
        }
        assert!(
            filled.len() < 100_000,
            "no OOM after {} writes",
            filled.len()
        );
    }
}

#[tokio::test]
async fn an_entry_written_at_the_memory_limit_can_still_be_invalidated() {
    let server =
        RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    let cache = redis_cache(&server).await;
    let mut redis = server.connection().await;

    // Fill to the limit: coarsely, then finely, so that freeing one key frees a few dozen bytes.
    let mut filled = Vec::new();
    fill_with(&server, &mut redis, &mut filled, &[b'x'; 4 << 10]).await;
    let _: () = redis::cmd("DEL")
        .arg(filled.pop())
        .query_async(&mut redis)
        .await
        .unwrap();
    fill_with(&server, &mut redis, &mut filled, &[b'y'; 16]).await;

    cache
        .scope(async {
            // Free a few bytes at a time and cache a new key each time, until an entry is
            // stored: the memory limit is crossed by the entry itself, and the invalidation
            // after it needs memory for a new generation (out of memory, it deletes the
            // generation key instead).
            let mut id = 0;
            loop {
                let freed = filled
                    .pop()
                    .expect("an entry is stored before the fill is gone");
                let _: () = redis::cmd("DEL")
                    .arg(freed)
                    .query_async(&mut redis)
                    .await
                    .unwrap();
                id += 1;
                assert_eq!(pressure_report(id).await, report(id));
                let key = format!("v1:_:pressure:~{id}");
                if get_entry(&mut redis, &key).await.is_some() {
                    break;
                }
            }
            assert_eq!(runs(&PRESSURE_RUNS), id as usize);

            // Every invalidation that covers a stored entry must reach it: here, the policy's.
            cache
                .invalidate_policy(&Policy::AiAnalysis)
                .await
                .unwrap_or_else(|e| panic!("invalidate_policy: {e}"));
            assert_eq!(pressure_report(id).await, report(id));
            assert_eq!(
                runs(&PRESSURE_RUNS),
                id as usize + 1,
                "after the invalidation the function runs again"
            );
        })
        .await;
}

// 5. serve stale on error ---------------------------------------------------------------------

static STALE_FAILING: AtomicBool = AtomicBool::new(false);
static STALE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "stale:{ticker}", ttl = "1s", stale_if_error = "1h")]
async fn stale_quote(ticker: &str) -> Result<Quote, String> {
    STALE_RUNS.fetch_add(1, Ordering::SeqCst);
    if STALE_FAILING.load(Ordering::SeqCst) {
        return Err(format!("upstream down for {ticker}"));
    }
    Ok(fresh_quote(ticker))
}

static NO_STALE_FAILING: AtomicBool = AtomicBool::new(false);
static NO_STALE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The control: the same function without `stale_if_error`.
#[cached(key = "no-stale:{ticker}", ttl = "1s")]
async fn no_stale_quote(ticker: &str) -> Result<Quote, String> {
    NO_STALE_RUNS.fetch_add(1, Ordering::SeqCst);
    if NO_STALE_FAILING.load(Ordering::SeqCst) {
        return Err(format!("upstream down for {ticker}"));
    }
    Ok(fresh_quote(ticker))
}

/// Polls (at most 5 s) until `key` is gone from Redis: its TTL has passed.
async fn until_expired(backend: &Backend, redis: &mut Raw, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.entry(key).await.is_some() {
        assert!(
            Instant::now() < deadline,
            "{key} did not expire\n{}",
            backend.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn with_stale_if_error_a_failing_call_past_the_ttl_returns_the_last_value(backend: Backend) {
    STALE_FAILING.store(false, Ordering::SeqCst);
    STALE_RUNS.store(0, Ordering::SeqCst);
    NO_STALE_FAILING.store(false, Ordering::SeqCst);
    NO_STALE_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    let (stale_key, control_key) = (
        backend.key("v1:_:stale:7203"),
        backend.key("v1:_:no-stale:7203"),
    );
    // A literal `ttl` counts under the function's path.
    let stale_label = concat!(module_path!(), "::stale_quote");
    let control_label = concat!(module_path!(), "::no_stale_quote");

    cache
        .scope(async {
            assert_eq!(stale_quote("7203").await, Ok(fresh_quote("7203")));
            assert_eq!(no_stale_quote("7203").await, Ok(fresh_quote("7203")));
            assert_eq!(stale_quote("7203").await, Ok(fresh_quote("7203")));
            assert_eq!(runs(&STALE_RUNS), 1, "cached");
            assert_eq!(
                redis.entry(&format!("{stale_key}#stale")).await,
                Some(serde_json::to_vec(&fresh_quote("7203")).unwrap()),
                "the copy is kept beside the entry"
            );

            until_expired(&backend, &mut redis, &stale_key).await;
            until_expired(&backend, &mut redis, &control_key).await;
            STALE_FAILING.store(true, Ordering::SeqCst);
            NO_STALE_FAILING.store(true, Ordering::SeqCst);

            assert_eq!(
                stale_quote("7203").await,
                Ok(fresh_quote("7203")),
                "past its TTL, a failed call is answered with the last value"
            );
            assert_eq!(runs(&STALE_RUNS), 2, "the function ran, and failed");
            let stats = policy(&cache, stale_label);
            assert_eq!(stats.stale, 1, "{stats:?}");

            // Control: without `stale_if_error` the same situation returns the error.
            assert_eq!(
                no_stale_quote("7203").await,
                Err("upstream down for 7203".to_owned())
            );
            assert_eq!(runs(&NO_STALE_RUNS), 2);
            assert_eq!(policy(&cache, control_label).stale, 0);

            // No copy for arguments never cached: the error.
            assert_eq!(
                stale_quote("6758").await,
                Err("upstream down for 6758".to_owned())
            );
            assert_eq!(policy(&cache, stale_label).stale, 1);
        })
        .await;
}

// 6. early refresh ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Priced {
    ticker: String,
    /// Which execution of the function produced this value (1 = the first).
    generation: usize,
}

/// Executions of one function: how many ran, how many run now, the most at once. While the
/// gate is closed, a run announces that it started and waits for the gate to open: the test
/// sees who waits for the function without measuring any duration.
struct Executions {
    runs: AtomicUsize,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    closed: AtomicBool,
    started: Notify,
    gate: Notify,
}

impl Executions {
    const fn new() -> Self {
        Self {
            runs: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            most_at_once: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            started: Notify::const_new(),
            gate: Notify::const_new(),
        }
    }

    async fn run(&self, ticker: String) -> Priced {
        let generation = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(running, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            // Registered before announcing the start, so that an `open` right after it counts.
            let mut opened = std::pin::pin!(self.gate.notified());
            opened.as_mut().enable();
            self.started.notify_one();
            opened.await;
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        Priced { ticker, generation }
    }

    /// Back to no runs, the gate open: each variant of the test starts from there.
    fn reset(&self) {
        self.runs.store(0, Ordering::SeqCst);
        self.running.store(0, Ordering::SeqCst);
        self.most_at_once.store(0, Ordering::SeqCst);
        self.closed.store(false, Ordering::SeqCst);
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
        self.gate.notify_waiters();
    }
}

static AHEAD: Executions = Executions::new();

#[cached(key = "ahead:{ticker}", ttl = "2s", refresh_ahead = 0.5)]
async fn ahead_quote(ticker: String) -> Priced {
    AHEAD.run(ticker).await
}

static BEHIND: Executions = Executions::new();

/// The control: the same function without `refresh_ahead`.
#[cached(key = "behind:{ticker}", ttl = "2s")]
async fn behind_quote(ticker: String) -> Priced {
    BEHIND.run(ticker).await
}

/// A call that must not wait for the function: it has 5 s, while the function is held at its
/// gate until the test opens it.
async fn without_waiting<F: std::future::Future>(what: &str, call: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .unwrap_or_else(|_| panic!("{what} waited for the function"))
}

async fn with_refresh_ahead_hits_past_half_the_ttl_return_at_once_and_one_refresh_runs(
    backend: Backend,
) {
    AHEAD.reset();
    BEHIND.reset();
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    let label = concat!(module_path!(), "::ahead_quote");

    cache
        .scope(async {
            let (ahead, behind) = tokio::join!(
                ahead_quote("7203".to_owned()),
                behind_quote("7203".to_owned())
            );
            let warmed = Instant::now();
            assert_eq!(ahead.generation, 1);
            assert_eq!(behind.generation, 1);
            assert_eq!(ahead_quote("7203".to_owned()).await.generation, 1);
            assert_eq!(
                policy(&cache, label).refreshed,
                0,
                "early in the TTL: a plain hit"
            );

            // Past half the TTL (by Redis's clock: the entry's own PTTL), with the function
            // held at its gate: the cached value comes back without waiting for it.
            let key = ahead_quote_cache("7203".to_owned()).key().unwrap();
            let deadline = warmed + Duration::from_secs(5);
            loop {
                let pttl: i64 = redis::cmd("PTTL")
                    .arg(&key)
                    .query_async(&mut redis)
                    .await
                    .unwrap();
                if (0..900).contains(&pttl) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{key} never got past half its TTL: {pttl}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            AHEAD.close();
            let started = AHEAD.started.notified();
            let value =
                without_waiting("a hit due for refresh", ahead_quote("7203".to_owned())).await;
            assert_eq!(value.generation, 1, "the cached value");
            started.await;
            assert_eq!(runs(&AHEAD.runs), 2, "one background run, held at the gate");
            // More hits while that refresh runs: none waits, none starts another refresh.
            for _ in 0..10 {
                let value =
                    without_waiting("a hit while a refresh runs", ahead_quote("7203".to_owned()))
                        .await;
                assert_eq!(value.generation, 1);
            }
            assert_eq!(runs(&AHEAD.runs), 2, "one refresh per key at a time");
            AHEAD.open();
            let deadline = Instant::now() + Duration::from_secs(5);
            while policy(&cache, label).refreshed < 1 {
                assert!(
                    Instant::now() < deadline,
                    "the refresh did not finish: {:?}",
                    cache.stats()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(
                ahead_quote("7203".to_owned()).await.generation,
                2,
                "the refreshed value"
            );
            assert_eq!(AHEAD.most_at_once.load(Ordering::SeqCst), 1);
            let stats = policy(&cache, label);
            assert_eq!(stats.misses, 1, "only the first call missed: {stats:?}");

            // Control: without `refresh_ahead`, the call after the TTL waits for the function.
            let behind_key = behind_quote_cache("7203".to_owned()).key().unwrap();
            until_expired(&backend, &mut redis, &behind_key).await;
            BEHIND.close();
            let started = BEHIND.started.notified();
            let mut waiting = tokio::spawn({
                let cache = cache.clone();
                async move { cache.scope(behind_quote("7203".to_owned())).await }
            });
            started.await;
            assert!(
                tokio::time::timeout(Duration::from_millis(50), &mut waiting)
                    .await
                    .is_err(),
                "without refresh_ahead the call past the TTL waits for the function"
            );
            BEHIND.open();
            assert_eq!(waiting.await.unwrap().generation, 2);
        })
        .await;
}

backend_tests!(
    multi_thread:
    a_thousand_concurrent_callers_of_one_cold_key_run_the_function_once,
    with_lock_concurrent_callers_in_two_processes_run_the_function_once,
    with_stale_if_error_a_failing_call_past_the_ttl_returns_the_last_value,
    with_refresh_ahead_hits_past_half_the_ttl_return_at_once_and_one_refresh_runs,
);
