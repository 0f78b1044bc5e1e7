//! The cost of a cache hit, against the code it replaces.
//!
//! One tokio runtime and one `redis-server` of our own, with the key warmed before any
//! measurement. The runtime is current-thread: the caller and the connection's driver task share
//! one thread, so a hit costs one round trip plus CPU work and no cross-thread wake-ups, which
//! keeps the comparison as sharp and as quiet as a shared machine allows. Group `redis_hit` puts,
//! in one run:
//!
//! - `cached`: the `#[cached]` function, hit through Redis (the runtime's `ConnectionManager`);
//! - `handwritten_connection_manager`: `GET` + `serde_json::from_slice` of the same entry on a
//!   `redis::aio::ConnectionManager` of its own with default settings (the kind the runtime
//!   uses), building its key with `format!` per call as hand-written code would;
//! - `handwritten_multiplexed`: the same on a bare `MultiplexedConnection`, for reference.
//!
//! Group `in_process_hit` has the `#[cached]` function hit through the in-process store
//! (`CacheBuilder::new()`, no Redis), hit through the local tier in front of Redis
//! (`.local_tier(10 min)`, an L1 hit: Redis is not asked), and, as their floor,
//! `serde_json::from_slice` alone of the same bytes: both keep JSON, so no hit can cost less
//! than that decode.
//!
//! Many short samples (100 per benchmark): on a shared machine, quote the median of
//! `target/criterion/<group>/<benchmark>/new/estimates.json`, which bursts of load from other
//! processes move less than the mean. `outage` measures the same pair again with the two taking
//! turns, and with the CPU time per call.
//!
//! Run: `cargo bench -p cache-tests --bench hit_path`.

use std::hint::black_box;
use std::time::Duration;

use cache_runtime::{CacheBuilder, Stats};
use cache_tests::RedisServer;
use criterion::{criterion_group, criterion_main, Criterion};
use redis::AsyncCommands;

mod workload;

use workload::{analysis, compute_analysis, stored_key, StockAnalysis};

const TICKER: &str = "7203";

fn hit_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = RedisServer::start();
    let expected = runtime
        .block_on(compute_analysis(TICKER))
        .expect("the function succeeds");
    let bytes = serde_json::to_vec(&expected).expect("the analysis encodes");
    eprintln!("value: {} bytes of JSON", bytes.len());

    let redis_cache = runtime.block_on(async {
        let cache = CacheBuilder::new()
            .redis_url(server.url())
            .build()
            .await
            .expect("a Redis cache");
        cache.install();
        // The miss that fills the entry, then one hit to check it.
        assert_eq!(analysis(TICKER).await, Ok(expected.clone()));
        assert_eq!(analysis(TICKER).await, Ok(expected.clone()));
        cache
    });
    assert_eq!(
        policy_counts(&redis_cache.stats()),
        (1, 1, 0),
        "warming: one miss, then one hit"
    );

    let client = server.client();
    let (mut manager, multiplexed) = runtime.block_on(async {
        let manager = redis::aio::ConnectionManager::new(client.clone())
            .await
            .expect("a ConnectionManager");
        let multiplexed = client
            .get_multiplexed_async_connection()
            .await
            .expect("a MultiplexedConnection");
        (manager, multiplexed)
    });
    // Hand-written code reads the very entry the cache wrote.
    assert_eq!(
        runtime.block_on(handwritten(&mut manager, TICKER)),
        Some(expected.clone())
    );

    let mut group = c.benchmark_group("redis_hit");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(100);
    group.bench_function("cached", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(analysis(black_box(TICKER)).await) })
    });
    group.bench_function("handwritten_connection_manager", |b| {
        b.to_async(&runtime).iter(|| {
            let mut connection = manager.clone();
            async move { black_box(handwritten(&mut connection, black_box(TICKER)).await) }
        })
    });
    group.bench_function("handwritten_multiplexed", |b| {
        b.to_async(&runtime).iter(|| {
            let mut connection = multiplexed.clone();
            async move { black_box(handwritten(&mut connection, black_box(TICKER)).await) }
        })
    });
    group.finish();
    let (misses, _, errors) = policy_counts(&redis_cache.stats());
    eprintln!(
        "redis cache after the group: {misses} miss(es), {errors} store error(s) (1 and 0 mean every measured call was a hit)"
    );

    let memory_cache = runtime.block_on(async {
        let cache = CacheBuilder::new()
            .build()
            .await
            .expect("an in-process cache");
        cache.install();
        assert_eq!(analysis(TICKER).await, Ok(expected.clone()));
        cache
    });
    assert_eq!(memory_cache.stats().backend, "memory");
    let tiered_cache = runtime.block_on(async {
        let cache = CacheBuilder::new()
            .redis_url(server.url())
            .local_tier(Duration::from_secs(600))
            .build()
            .await
            .expect("a Redis cache with a local tier");
        // An L2 hit (the Redis group above wrote the entry), which copies it into the local tier.
        cache
            .scope(analysis(TICKER))
            .await
            .expect("the function succeeds");
        cache
    });
    assert_eq!(tiered_cache.stats().backend, "redis+local");

    let mut group = c.benchmark_group("in_process_hit");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(100);
    group.bench_function("cached", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(analysis(black_box(TICKER)).await) })
    });
    tiered_cache.install();
    group.bench_function("local_tier_cached", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(analysis(black_box(TICKER)).await) })
    });
    group.bench_function("decode_only", |b| {
        b.iter(|| serde_json::from_slice::<StockAnalysis>(black_box(&bytes)).expect("decodes"))
    });
    group.finish();
    for (name, cache) in [("in-process", &memory_cache), ("local tier", &tiered_cache)] {
        let (misses, _, errors) = policy_counts(&cache.stats());
        eprintln!("{name} cache after the group: {misses} miss(es), {errors} store error(s)");
    }

    drop(multiplexed);
    drop(manager);
    drop(server);
}

/// What the cache replaces: build the key, `GET`, decode.
async fn handwritten<C>(connection: &mut C, ticker: &str) -> Option<StockAnalysis>
where
    C: redis::aio::ConnectionLike + Send + Sync,
{
    let bytes: Option<Vec<u8>> = connection.get(stored_key(ticker)).await.ok()?;
    serde_json::from_slice(&bytes?).ok()
}

/// (misses, hits, errors) of the `ai_analysis` policy.
fn policy_counts(stats: &Stats) -> (u64, u64, u64) {
    stats
        .policies
        .get("ai_analysis")
        .map_or((0, 0, 0), |p| (p.misses, p.hits, p.errors))
}

criterion_group!(benches, hit_path);
criterion_main!(benches);
