//! Faults caused for real: a `redis-server` killed with SIGKILL under load and restarted, a peer
//! that accepts connections and never answers, a thundering herd on one cold key, a server out
//! of memory. In every case a caller gets what its function returns for its arguments, never a
//! cache error, and caching comes back by itself.
//!
//! Every test starts its own `redis-server` (or its own silent peer) and builds its own
//! [`Cache`], used through [`Cache::scope`]; each cached function belongs to one test, so its
//! counters are exact. Timings asserted here are bounds on correctness guarantees ("no call
//! waits longer than the operation timeout"), with generous margins, never performance claims.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{cached, BreakerState, Cache, CacheBuilder, Policy, PolicyStats};
use cache_tests::RedisServer;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;
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

fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

fn policy(cache: &Cache, label: &str) -> PolicyStats {
    cache
        .stats()
        .policies
        .get(label)
        .cloned()
        .unwrap_or_else(|| panic!("no stats for `{label}`: {:?}", cache.stats()))
}

/// Hits over every policy of `cache`.
fn total_hits(cache: &Cache) -> u64 {
    cache.stats().policies.values().map(|p| p.hits).sum()
}

/// Store errors over every policy of `cache`.
fn total_errors(cache: &Cache) -> u64 {
    cache.stats().policies.values().map(|p| p.errors).sum()
}

async fn redis_cache(server: &RedisServer) -> Cache {
    CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", server.log()))
}

async fn get_raw(connection: &mut MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e}"))
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
        get_raw(&mut redis, "v1:_:load:quote:7203").await,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_of_one_cold_key_run_the_function_once() {
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
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
    let mut redis = server.connection().await;
    assert_eq!(
        get_raw(&mut redis, "v1:_:herd:42").await,
        Some(serde_json::to_vec(&report(42)).unwrap())
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
            assert_eq!(get_raw(&mut redis, "v1:_:oom:100").await, None);
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
