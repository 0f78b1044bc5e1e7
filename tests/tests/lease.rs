//! The cross-process lease of `lock`: released only by the process that holds it, and a lease
//! whose holder vanished costs a waiter at most the lease's length, never a failed call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::cached;
use cache_tests::inspect::runs;
use cache_tests::{backend_tests, Backend, Raw};

static INTRUDED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Takes the lease, then (as if the lease had expired and another process had taken it over)
/// overwrites the lock (named `lock` in Redis) with another process's token before returning.
#[cached(key = "intruded:{id}", ttl = "1m", lock = "5s")]
async fn intruded(id: u32, mut redis: Raw, lock: String) -> u32 {
    INTRUDED_RUNS.fetch_add(1, Ordering::SeqCst);
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

async fn a_lease_is_released_only_by_its_owner(backend: Backend) {
    INTRUDED_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    let lock = format!("{}#lock", backend.key("v1:_:intruded:~1"));
    let value = cache.scope(intruded(1, redis.clone(), lock.clone())).await;
    assert_eq!(value, 10);
    assert_eq!(runs(&INTRUDED_RUNS), 1);
    assert_eq!(
        redis.get(&lock).await.as_deref(),
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

async fn a_lease_whose_holder_vanished_costs_at_most_the_lease(backend: Backend) {
    ORPHANED_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    // A holder that took the lease for 10 s and died without filling the entry.
    let _: () = redis::cmd("SET")
        .arg(format!("{}#lock", backend.key("v1:_:orphaned:~3")))
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

backend_tests!(
    a_lease_is_released_only_by_its_owner,
    a_lease_whose_holder_vanished_costs_at_most_the_lease,
);
