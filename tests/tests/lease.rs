//! The cross-process lease of `lock`: released only by the process that holds it, and a lease
//! whose holder vanished costs a waiter at most the lease's length, never a failed call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::cached;
use cache_tests::inspect::{get_raw, redis_cache, runs};
use cache_tests::RedisServer;

static INTRUDED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Takes the lease, then (as if the lease had expired and another process had taken it over)
/// overwrites the lock with another process's token before returning.
#[cached(key = "intruded:{id}", ttl = "1m", lock = "5s")]
async fn intruded(id: u32, redis_url: String) -> u32 {
    INTRUDED_RUNS.fetch_add(1, Ordering::SeqCst);
    let client = redis::Client::open(redis_url).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let lock = format!("v1:_:intruded:~{id}#lock");
    let held: Option<String> = redis::cmd("GET")
        .arg(&lock)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(held.is_some(), "the lease is held while the function runs");
    let _: () = redis::cmd("SET")
        .arg(&lock)
        .arg("another-process")
        .query_async(&mut redis)
        .await
        .unwrap();
    id * 10
}

#[tokio::test]
async fn a_lease_is_released_only_by_its_owner() {
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let value = cache.scope(intruded(1, server.url())).await;
    assert_eq!(value, 10);
    assert_eq!(runs(&INTRUDED_RUNS), 1);
    let mut redis = server.connection().await;
    assert_eq!(
        get_raw(&mut redis, "v1:_:intruded:~1#lock")
            .await
            .as_deref(),
        Some(&b"another-process"[..]),
        "the process that lost its lease must not delete the new holder's"
    );
}

static ORPHANED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "orphaned:{id}", ttl = "1m", lock = "300ms")]
async fn orphaned(id: u32) -> u32 {
    ORPHANED_RUNS.fetch_add(1, Ordering::SeqCst);
    id * 7
}

#[tokio::test]
async fn a_lease_whose_holder_vanished_costs_at_most_the_lease() {
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let mut redis = server.connection().await;
    // A holder that took the lease for 10 s and died without filling the entry.
    let _: () = redis::cmd("SET")
        .arg("v1:_:orphaned:~3#lock")
        .arg("a-dead-process")
        .arg("PX")
        .arg(10_000)
        .query_async(&mut redis)
        .await
        .unwrap();
    let started = Instant::now();
    let value = cache.scope(orphaned(3)).await;
    let took = started.elapsed();
    assert_eq!(value, 21, "the function's own value");
    assert_eq!(runs(&ORPHANED_RUNS), 1);
    // Bounds on the guarantee (the wait is this attribute's lease, 300 ms), not a benchmark.
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "a caller waited {took:?} on a lease of 300 ms held by a dead process"
    );
}
