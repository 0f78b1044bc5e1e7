//! No invalidation is lost: one that cannot reach Redis is queued and replayed before the next
//! Redis hit, a put reaches every process's local tier, a failed invalidation drops this
//! process's own local copy at once, and a write that started before an invalidation never lands
//! after it (in one process and across two).
//!
//! Every test starts its own `redis-server` (or uses the in-process store) and its own caches;
//! each cached function belongs to one test, so its counters and sources are exact.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{cache_evict, cache_put, cached, Cache, CacheBuilder};
use cache_tests::inspect::{redis_cache, runs, until_listening};
use cache_tests::RedisServer;
use tokio::sync::Notify;

/// A cache on `server` with short deadlines, so that a paused server costs little.
async fn quick_cache(server: &RedisServer, local_tier: Option<Duration>) -> Cache {
    let mut builder = CacheBuilder::new()
        .redis_url(server.url())
        .operation_timeout(Duration::from_millis(150))
        .write_timeout(Duration::from_millis(150))
        .breaker(3, Duration::from_millis(200));
    if let Some(ttl) = local_tier {
        builder = builder.local_tier(ttl);
    }
    builder.build().await.unwrap()
}

/// Calls `read` every 20 ms until it returns `expected`, for at most 5 s.
async fn until_reads<F, Fut>(what: &str, expected: u32, mut read: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u32>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let value = read().await;
        if value == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {value}, not {expected}, after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// an eviction while Redis is paused -------------------------------------------------------------

static PAUSED_SOURCE: AtomicU32 = AtomicU32::new(1);

#[cached(key = "paused-evict:{id}", ttl = "1h")]
async fn paused_price(id: u32) -> u32 {
    id * 100 + PAUSED_SOURCE.load(Ordering::SeqCst)
}

#[cache_evict(function = paused_price, key = "paused-evict:{id}")]
async fn reprice(id: u32, source: u32) -> Result<(), String> {
    let _ = id;
    PAUSED_SOURCE.store(source, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn an_eviction_while_redis_is_paused_is_replayed_before_the_next_hit() {
    let server = RedisServer::start();
    let cache = quick_cache(&server, None).await;
    cache
        .scope(async {
            assert_eq!(paused_price(1).await, 101);
            assert_eq!(paused_price(1).await, 101, "cached");

            // The runtime API reports the failure and keeps the invalidation.
            server.pause();
            PAUSED_SOURCE.store(2, Ordering::SeqCst);
            let error = paused_price_cache(1)
                .invalidate()
                .await
                .expect_err("Redis is paused");
            assert!(error.is_queued(), "{error}");
            assert_eq!(cache.stats().invalidations.queued, 1);
            assert_eq!(cache.stats().invalidations.pending, 1);
            server.resume();
            assert_eq!(paused_price(1).await, 102, "the new value, never the old");
            let invalidations = cache.stats().invalidations;
            assert_eq!(invalidations.replayed, 1, "{invalidations:?}");
            assert_eq!(invalidations.pending, 0, "{invalidations:?}");
            assert_eq!(paused_price(1).await, 102, "and cached again");

            // The attribute: the function's own result, and the eviction is not lost.
            server.pause();
            assert_eq!(reprice(1, 3).await, Ok(()));
            server.resume();
            assert_eq!(paused_price(1).await, 103, "the new value, never the old");
            assert_eq!(cache.stats().invalidations.queued, 2);
            assert_eq!(cache.stats().invalidations.replayed, 2);
        })
        .await;
}

// a failed invalidation and this process's local copy --------------------------------------------

static LOCAL_SOURCE: AtomicU32 = AtomicU32::new(1);

#[cached(key = "local-first:{id}", ttl = "1h")]
async fn local_price(id: u32) -> u32 {
    id * 100 + LOCAL_SOURCE.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_failed_invalidation_drops_this_processs_local_copy_at_once() {
    let server = RedisServer::start();
    let cache = quick_cache(&server, Some(Duration::from_secs(60))).await;
    until_listening(&[&cache]).await;
    cache
        .scope(async {
            assert_eq!(local_price(1).await, 101);
            assert_eq!(local_price(1).await, 101, "a local copy now");
            server.pause();
            LOCAL_SOURCE.store(2, Ordering::SeqCst);
            assert!(local_price_cache(1).invalidate().await.is_err());
            // The copy itself is gone, not merely hidden while the invalidation waits: a read
            // of the store (Redis is paused, so only a local copy could answer) finds nothing.
            assert_eq!(
                local_price_cache(1).peek().await,
                None,
                "the local copy is gone"
            );
            assert_eq!(
                local_price(1).await,
                102,
                "Redis is paused: the local copy must be gone, not served"
            );
            server.resume();
        })
        .await;
}

// a put and the other processes' local tiers ------------------------------------------------------

static PUT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "put-through:{id}", ttl = "1h")]
async fn put_price(id: u32) -> u32 {
    PUT_RUNS.fetch_add(1, Ordering::SeqCst);
    id * 100 + 1
}

#[cache_put(function = put_price, key = "put-through:{id}")]
async fn set_put_price(id: u32, price: u32) -> u32 {
    let _ = id;
    price
}

#[tokio::test]
async fn a_put_reaches_the_local_tier_of_every_process() {
    let server = RedisServer::start();
    let local = Some(Duration::from_secs(60));
    let (one, two) = (
        quick_cache(&server, local).await,
        quick_cache(&server, local).await,
    );
    until_listening(&[&one, &two]).await;
    assert_eq!(one.scope(put_price(1)).await, 101);
    assert_eq!(two.scope(put_price(1)).await, 101, "from Redis");
    assert_eq!(two.scope(put_price(1)).await, 101, "from its local copy");
    assert_eq!(runs(&PUT_RUNS), 1);

    assert_eq!(one.scope(set_put_price(1, 555)).await, 555);
    assert_eq!(
        one.scope(put_price(1)).await,
        555,
        "the writer reads its put"
    );
    until_reads("the other process after the put", 555, || {
        two.scope(put_price(1))
    })
    .await;
    assert_eq!(runs(&PUT_RUNS), 1);
}

// a write that started before an invalidation -----------------------------------------------------

/// A slow function: announces that it started (after the cache missed), then waits for the gate.
struct Slow {
    source: AtomicU32,
    started: Notify,
    gate: Notify,
}

impl Slow {
    const fn new() -> Self {
        Self {
            source: AtomicU32::new(1),
            started: Notify::const_new(),
            gate: Notify::const_new(),
        }
    }

    async fn run(&self, id: u32) -> u32 {
        let read = id * 100 + self.source.load(Ordering::SeqCst);
        self.started.notify_one();
        self.gate.notified().await;
        read
    }
}

/// Starts `call` on `writer`; once its function has started, changes the source and invalidates
/// through `invalidator` with `invalidate`; then lets the function finish. The next read (`read`)
/// must be the new value: the old one, computed before the invalidation, must not have been
/// written after it.
async fn race<C, R, I>(
    slow: &'static Slow,
    writer: &Cache,
    invalidator: &Cache,
    call: C,
    read: R,
    invalidate: I,
) where
    C: std::future::Future<Output = u32> + Send + 'static,
    R: std::future::Future<Output = u32> + Send + 'static,
    I: std::future::Future<Output = ()>,
{
    let before = slow.source.load(Ordering::SeqCst);
    let computing = tokio::spawn(writer.clone().scope_owned(call));
    slow.started.notified().await;
    slow.source.store(before + 1, Ordering::SeqCst);
    invalidator.scope(invalidate).await;
    slow.gate.notify_one();
    assert_eq!(
        computing.await.unwrap(),
        100 + before,
        "computed before the change"
    );
    // A hit returns without running the function; a miss runs it, and it waits for the gate.
    let mut again = tokio::spawn(writer.clone().scope_owned(read));
    let value = tokio::select! {
        () = slow.started.notified() => {
            slow.gate.notify_one();
            again.await.unwrap()
        }
        value = &mut again => value.unwrap(),
    };
    assert_eq!(
        value,
        100 + before + 1,
        "the write that started before the invalidation landed after it"
    );
}

/// `Cache::scope` for a spawned task, which needs an owned future.
trait ScopeOwned {
    fn scope_owned<F>(
        self,
        future: F,
    ) -> impl std::future::Future<Output = F::Output> + Send + 'static
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send;
}

impl ScopeOwned for Cache {
    #[allow(clippy::manual_async_fn)] // `async fn` in a trait cannot promise `Send + 'static`
    fn scope_owned<F>(
        self,
        future: F,
    ) -> impl std::future::Future<Output = F::Output> + Send + 'static
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send,
    {
        async move { self.scope(future).await }
    }
}

/// One set of racing functions per test: tests run in parallel, and a `Slow` is one race.
macro_rules! races {
    ($module:ident, $test:ident, $caches:expr) => {
        mod $module {
            use super::*;

            static RACE_KEY: Slow = Slow::new();

            #[cached(key = "race-key:{id}", ttl = "1h")]
            async fn race_key(id: u32) -> u32 {
                RACE_KEY.run(id).await
            }

            static RACE_FN: Slow = Slow::new();

            #[cached(key = "race-fn:{id}", ttl = "1h")]
            async fn race_fn(id: u32) -> u32 {
                RACE_FN.run(id).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let (_server, writer, invalidator): (Option<RedisServer>, Cache, Cache) =
                    $caches.await;
                race(
                    &RACE_KEY,
                    &writer,
                    &invalidator,
                    race_key(1),
                    race_key(1),
                    async {
                        let _ = race_key_cache(1).invalidate().await;
                    },
                )
                .await;
                race(
                    &RACE_FN,
                    &writer,
                    &invalidator,
                    race_fn(1),
                    race_fn(1),
                    async {
                        let _ = race_fn_cache(1).invalidate_function().await;
                    },
                )
                .await;
            }
        }
    };
}

races!(
    in_process,
    a_write_that_started_before_an_invalidation_does_not_land_after_it,
    async {
        let cache = CacheBuilder::new().build().await.unwrap();
        (None, cache.clone(), cache)
    }
);

races!(
    one_redis_process,
    a_write_that_started_before_an_invalidation_does_not_land_after_it,
    async {
        let server = RedisServer::start();
        let cache = redis_cache(&server).await;
        (Some(server), cache.clone(), cache)
    }
);

races!(
    two_redis_processes,
    a_write_that_started_before_another_processs_invalidation_does_not_land_after_it,
    async {
        let server = RedisServer::start();
        let (writer, invalidator) = (redis_cache(&server).await, redis_cache(&server).await);
        (Some(server), writer, invalidator)
    }
);
