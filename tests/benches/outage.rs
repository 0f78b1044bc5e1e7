//! Per-call cost of one `#[cached]` function with Redis healthy, with Redis down and the breaker
//! open, and uncached; then throughput of 64 concurrent callers on the cache's one multiplexed
//! connection next to `redis-benchmark` against the same server in the same run. Prints markdown.
//!
//! One `redis-server` of our own. The per-call figures run on a current-thread tokio runtime:
//! caller and connection driver share one thread, so nothing but the call itself is timed and
//! the CPU column (this process's CPU time per call, kernel time included) has no idle worker
//! threads in it. The concurrent figures run on a multi-threaded runtime (2 workers) with its own
//! cache on the same server. Every wall-clock figure is a median over many short rounds in which
//! the compared cases take turns, so load from other processes falls on all of them alike; for
//! the hit, the median of the per-round ratios (both measured back to back) is printed too, and
//! is the figure that bursts of load move least.
//!
//! The breaker is `.breaker(3, Duration::from_secs(3600))`: it opens after 3 failures and stays
//! open far longer than the measurement, so no measured call probes the dead server.
//!
//! Run: `cargo bench -p cache-tests --bench outage`.

use std::future::Future;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use cache_runtime::{BreakerState, CacheBuilder, Stats};
use cache_tests::RedisServer;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;

mod measure;
mod workload;

use measure::{interleaved, load_average, per_call, percent, show, signed, Sample};
use workload::{analysis, compute_analysis, stored_key, StockAnalysis};

const TICKER: &str = "7203";
/// Rounds of every per-call figure: many short rounds, so that a burst of load from elsewhere
/// spoils a few of them, which the median and the quartiles then leave out.
const ROUNDS: usize = 25;
/// Calls per round through Redis (tens of µs each).
const REDIS_CALLS: u32 = 1_000;
/// Calls per round that never reach Redis (around a µs each).
const LOCAL_CALLS: u32 = 40_000;
/// Concurrent callers, as in `redis-benchmark -c 64`.
const TASKS: usize = 64;
/// 64 × 1 563 = 100 032 calls per round, about `redis-benchmark -n 100000`.
const CALLS_PER_TASK: usize = 1_563;
const CONCURRENT_ROUNDS: usize = 5;
const BREAKER_COOL_DOWN: Duration = Duration::from_secs(3600);

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime");
    let parallel = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-threaded tokio runtime");
    let mut server = RedisServer::start();
    let port = server.port();
    let load_before = load_average();
    let expected = runtime
        .block_on(compute_analysis(TICKER))
        .expect("the function succeeds");
    let value_bytes = serde_json::to_vec(&expected)
        .expect("the analysis encodes")
        .len();

    let cache = runtime
        .block_on(
            CacheBuilder::new()
                .redis_url(server.url())
                .breaker(3, BREAKER_COOL_DOWN)
                .build(),
        )
        .expect("a Redis cache");
    let disabled = runtime
        .block_on(CacheBuilder::new().enabled(false).build())
        .expect("a disabled cache");
    let tickers: Vec<String> = (0..TASKS).map(|i| (8000 + i).to_string()).collect();
    runtime.block_on(cache.scope(async {
        for ticker in std::iter::once(TICKER).chain(tickers.iter().map(String::as_str)) {
            assert!(analysis(ticker).await.is_ok());
        }
    }));
    let warmed = counts(&cache.stats());
    let manager = runtime
        .block_on(ConnectionManager::new(server.client()))
        .expect("a ConnectionManager");
    assert_eq!(
        runtime.block_on(handwritten(manager.clone(), TICKER)),
        Some(expected.clone()),
        "hand-written code reads the entry the cache wrote"
    );

    // (i) Redis healthy: every call a hit.
    let healthy = interleaved(
        ROUNDS,
        &mut [
            &mut || runtime.block_on(cache.scope(per_call(REDIS_CALLS, || analysis(TICKER)))),
            &mut || {
                runtime.block_on(per_call(REDIS_CALLS, || {
                    handwritten(manager.clone(), TICKER)
                }))
            },
        ],
    );
    let after_healthy = counts(&cache.stats());

    // (iv) 64 concurrent callers through the one multiplexed connection of a cache.
    let (shared, shared_manager) = parallel.block_on(async {
        let cache = CacheBuilder::new()
            .redis_url(server.url())
            .build()
            .await
            .expect("a Redis cache");
        let manager = ConnectionManager::new(server.client())
            .await
            .expect("a ConnectionManager");
        (cache, manager)
    });
    let throughput = interleaved(
        CONCURRENT_ROUNDS,
        &mut [
            &mut || {
                parallel.block_on(concurrent(&tickers, |ticker| {
                    let cache = shared.clone();
                    async move {
                        cache
                            .scope(async {
                                for _ in 0..CALLS_PER_TASK {
                                    black_box(analysis(&ticker).await.is_ok());
                                }
                            })
                            .await
                    }
                }))
            },
            &mut || {
                parallel.block_on(concurrent(&tickers, |ticker| {
                    let manager = shared_manager.clone();
                    async move {
                        for _ in 0..CALLS_PER_TASK {
                            black_box(handwritten(manager.clone(), &ticker).await.is_some());
                        }
                    }
                }))
            },
        ],
    );
    let concurrent_counts = counts(&shared.stats());
    let benchmark_get = redis_benchmark(port, &["-t", "get"]);
    let size = value_bytes.to_string();
    let benchmark_get_sized = redis_benchmark(port, &["-t", "set,get", "-d", &size]);

    // (ii) Redis down: kill it, call until the breaker opens.
    server.kill();
    let killed = Instant::now();
    let calls_to_open = runtime.block_on(cache.scope(async {
        let mut calls = 0u32;
        while cache.stats().breaker != BreakerState::Open {
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "the breaker did not open within 30 s after {calls} calls: {:?}",
                cache.stats()
            );
            assert_eq!(analysis(TICKER).await.as_ref(), Ok(&expected));
            calls += 1;
        }
        calls
    }));
    let time_to_open = killed.elapsed();
    let before_outage = counts(&cache.stats());

    // (ii) and (iii), interleaved.
    let local = interleaved(
        ROUNDS,
        &mut [
            &mut || runtime.block_on(cache.scope(per_call(LOCAL_CALLS, || analysis(TICKER)))),
            &mut || runtime.block_on(disabled.scope(per_call(LOCAL_CALLS, || analysis(TICKER)))),
            &mut || runtime.block_on(per_call(LOCAL_CALLS, || compute_analysis(TICKER))),
        ],
    );
    let after_outage = counts(&cache.stats());
    let breaker_after = cache.stats().breaker;
    let load_after = load_average();

    println!("## Outage benchmark\n");
    println!(
        "Value: `StockAnalysis`, {value_bytes} bytes of JSON. Per-call rows: tokio current-thread runtime; concurrent rows: multi-thread, 2 workers. \
         Breaker: `.breaker(3, Duration::from_secs(3600))`. Load average before/after: {load_before} / {load_after}.\n"
    );
    println!(
        "| case | per call, wall (median of {ROUNDS} rounds) | quartiles | CPU of this process per call (mean) | calls per round |"
    );
    println!("|---|---|---|---|---|");
    let rows: [(&str, &[Sample], u32); 5] = [
        (
            "(i) `#[cached]`, Redis healthy (hit)",
            &healthy[0],
            REDIS_CALLS,
        ),
        (
            "(i′) hand-written `GET` + decode, `ConnectionManager`",
            &healthy[1],
            REDIS_CALLS,
        ),
        (
            "(ii) `#[cached]`, Redis down, breaker open",
            &local[0],
            LOCAL_CALLS,
        ),
        (
            "(iii) `#[cached]`, `CacheBuilder::new().enabled(false)`",
            &local[1],
            LOCAL_CALLS,
        ),
        (
            "(iii′) the plain function, no `#[cached]`",
            &local[2],
            LOCAL_CALLS,
        ),
    ];
    for (case, rounds, calls) in rows {
        let (median, low, high) = spread(rounds, |sample| sample.wall);
        println!(
            "| {case} | {} | {}–{} | {} | {calls} |",
            show(median),
            show(low),
            show(high),
            show(mean_cpu(rounds)),
        );
    }
    let wall = |rounds: &[Sample]| spread(rounds, |sample| sample.wall).0;
    let cpu = mean_cpu;
    let (ratio, ratio_low, ratio_high) = paired_ratio(&healthy[0], &healthy[1]);
    println!(
        "\nHit through Redis over hand-written: wall {} ({:+.1}%, medians); per-round ratio of the two, \
         measured back to back: median {:+.1}% (quartiles {:+.1}%…{:+.1}%); CPU of this process {} ({:+.1}%, means).",
        signed(wall(&healthy[0]), wall(&healthy[1])),
        percent(wall(&healthy[0]), wall(&healthy[1])),
        ratio,
        ratio_low,
        ratio_high,
        signed(cpu(&healthy[0]), cpu(&healthy[1])),
        percent(cpu(&healthy[0]), cpu(&healthy[1])),
    );
    println!(
        "Breaker open minus uncached: {} over `enabled(false)`, {} over the plain function. \
         The breaker opened {} after the kill, after {calls_to_open} calls; it was {breaker_after:?} after the last round.",
        signed(wall(&local[0]), wall(&local[1])),
        signed(wall(&local[0]), wall(&local[2])),
        show(time_to_open),
    );
    println!(
        "Counters (misses, hits, errors): after warming {warmed:?}, after (i) {after_healthy:?}, \
         breaker opened {before_outage:?}, after (ii) {after_outage:?}; \
         of the concurrent cache after (iv): {concurrent_counts:?}.\n"
    );

    println!(
        "| {TASKS} concurrent callers, same server | ops/s (median of {CONCURRENT_ROUNDS}) | range |"
    );
    println!("|---|---|---|");
    for (case, rounds) in [
        (
            "(iv) `#[cached]` hits, one multiplexed connection",
            &throughput[0],
        ),
        (
            "(iv′) hand-written `GET` + decode, one `ConnectionManager`",
            &throughput[1],
        ),
    ] {
        let (median, low, high) = spread_f64(rounds);
        println!("| {case} | {median:.0} | {low:.0}–{high:.0} |");
    }
    for (command, line) in [
        (
            format!("`redis-benchmark -p {port} -t get -n 100000 -c 64 -q` (nil replies)"),
            benchmark_get,
        ),
        (
            format!(
                "`redis-benchmark -p {port} -t set,get -d {value_bytes} -n 100000 -c 64 -q` (GET line)"
            ),
            benchmark_get_sized,
        ),
    ] {
        match line {
            Some(line) => println!(
                "| {command}, {TASKS} connections | {} | `{line}` |",
                requests_per_second(&line).map_or("?".to_owned(), |rps| format!("{rps:.0}"))
            ),
            None => println!("| {command} | skipped: `redis-benchmark` not found or no GET line | |"),
        }
    }
}

/// One task per ticker, all at once; total calls per second until the last one ends.
async fn concurrent<F, Fut>(tickers: &[String], mut task: F) -> f64
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = tickers
        .iter()
        .map(|ticker| tokio::spawn(task(ticker.clone())))
        .collect();
    for task in tasks {
        task.await.expect("a benchmark task");
    }
    (tickers.len() * CALLS_PER_TASK) as f64 / started.elapsed().as_secs_f64()
}

/// What the cache replaces: build the key, `GET`, decode.
async fn handwritten(mut connection: ConnectionManager, ticker: &str) -> Option<StockAnalysis> {
    let bytes: Option<Vec<u8>> = connection.get(stored_key(ticker)).await.ok()?;
    serde_json::from_slice(&bytes?).ok()
}

/// `redis-benchmark -p <port> <extra> -n 100000 -c 64 -q`: its final `GET:` line, or `None` when
/// the tool is not installed.
fn redis_benchmark(port: u16, extra: &[&str]) -> Option<String> {
    let output = Command::new("redis-benchmark")
        .arg("-p")
        .arg(port.to_string())
        .args(extra)
        .args(["-n", "100000", "-c", "64", "-q"])
        .output()
        .ok()?;
    // Progress lines end in `\r`; the result is the last `GET:` line with a rate.
    String::from_utf8_lossy(&output.stdout)
        .split(['\r', '\n'])
        .rfind(|line| line.starts_with("GET:") && line.contains("requests per second"))
        .map(|line| line.trim().to_owned())
}

fn requests_per_second(line: &str) -> Option<f64> {
    line.strip_prefix("GET:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// (misses, hits, errors) of the `ai_analysis` policy.
fn counts(stats: &Stats) -> (u64, u64, u64) {
    stats
        .policies
        .get("ai_analysis")
        .map_or((0, 0, 0), |p| (p.misses, p.hits, p.errors))
}

/// (median, min, max) of one measure over the rounds.
fn spread(rounds: &[Sample], measure: fn(&Sample) -> Duration) -> (Duration, Duration, Duration) {
    let mut sorted: Vec<Duration> = rounds.iter().map(measure).collect();
    sorted.sort();
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}

/// CPU time per call over all rounds. The kernel updates a thread's CPU time at scheduler ticks,
/// so one short round reads it coarsely; the mean over every round does not have that error.
fn mean_cpu(rounds: &[Sample]) -> Duration {
    rounds.iter().map(|sample| sample.cpu).sum::<Duration>() / rounds.len() as u32
}

/// Round by round, how much slower `a` was than `b` in the same round, in percent: (median,
/// first quartile, third quartile). A burst of load from elsewhere usually spans both halves of
/// a round, so this ratio is steadier than the ratio of the medians.
fn paired_ratio(a: &[Sample], b: &[Sample]) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| percent(a.wall, b.wall))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    (ratios[n / 2], ratios[n / 4], ratios[(3 * n) / 4])
}

fn spread_f64(rounds: &[f64]) -> (f64, f64, f64) {
    let mut sorted = rounds.to_vec();
    sorted.sort_by(f64::total_cmp);
    (
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
    )
}
