//! Companions (`<name>_cache(…)`) read the tenant and the cache when their operation runs, not
//! when they are made: `tenant::scope("acme", fill_cache(1, 1).invalidate())` drops acme's entry
//! just as `tenant::scope("acme", async { fill_cache(1, 1).invalidate().await })` does, and a
//! companion made outside `Cache::scope` works on the cache of the scope it is awaited in.
//!
//! Every scenario runs against the in-process store and against a `redis-server` the test
//! starts; each function counts its runs per tenant, so a count says exactly when the body ran.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use cache_runtime::{cached, tenant, Cache, CacheBuilder, CacheEntry};
use cache_tests::inspect::redis_cache;
use cache_tests::RedisServer;

/// Runs by counter (a store or a test) and tenant.
type Runs = HashMap<(&'static str, Option<String>), u32>;

static RUNS: LazyLock<Mutex<Runs>> = LazyLock::new(Mutex::default);

fn record(function: &'static str) -> u32 {
    let tenant = tenant::current().map(|t| t.to_string());
    let mut runs = RUNS.lock().unwrap();
    let count = runs.entry((function, tenant)).or_default();
    *count += 1;
    *count
}

fn runs(function: &'static str, tenant: Option<&str>) -> u32 {
    let runs = RUNS.lock().unwrap();
    let key = (function, tenant.map(str::to_owned));
    runs.get(&key).copied().unwrap_or(0)
}

/// The value the functions return: who computed it, and the how-manieth run it was.
fn value(run: u32) -> String {
    format!("{}#{run}", tenant::current().as_deref().unwrap_or("-"))
}

async fn stores() -> Vec<(&'static str, Cache, Option<RedisServer>)> {
    let memory = CacheBuilder::new()
        .build()
        .await
        .expect("the in-process cache");
    let server = RedisServer::start();
    let redis = redis_cache(&server).await;
    vec![("memory", memory, None), ("redis", redis, Some(server))]
}

/// `store` is not part of the key: it only tells the two stores' runs apart.
#[cached(key = "fill:{a}:{b}", ttl = "1m")]
async fn fill(a: u32, b: u32, store: &'static str) -> String {
    let _ = (a, b);
    value(record(store))
}

/// `test` is not part of the key: it only tells the tests' runs apart.
#[cached(key = "session:{user}", ttl = "1m", require_tenant)]
async fn session(user: u32, test: &'static str) -> Option<String> {
    let _ = user;
    Some(value(record(test)))
}

#[tokio::test]
async fn a_companion_made_outside_a_tenant_scope_acts_in_the_scope_it_is_awaited_in() {
    for (store, cache, _server) in stores().await {
        cache
            .scope(async {
                assert_eq!(
                    tenant::scope("acme", fill(1, 1, store)).await,
                    "acme#1",
                    "{store}"
                );
                assert_eq!(
                    tenant::scope("globex", fill(1, 1, store)).await,
                    "globex#1",
                    "{store}"
                );
                assert_eq!(fill(1, 1, store).await, "-#1", "{store}");

                // The companion is made here, outside any tenant, and awaited in acme's scope.
                let peek = tenant::scope("acme", fill_cache(1, 1).peek()).await;
                assert_eq!(
                    peek.as_deref(),
                    Some("acme#1"),
                    "{store}: peek reads acme's entry"
                );
                let dropped = tenant::scope("acme", fill_cache(1, 1).invalidate()).await;
                assert!(matches!(dropped, Ok(true)), "{store}: {dropped:?}");
                assert_eq!(
                    tenant::scope("acme", fill(1, 1, store)).await,
                    "acme#2",
                    "{store}: recomputed"
                );
                assert_eq!(runs(store, Some("acme")), 2, "{store}");

                // The other tenant and the calls outside any tenant were left alone.
                assert_eq!(
                    tenant::scope("globex", fill(1, 1, store)).await,
                    "globex#1",
                    "{store}"
                );
                assert_eq!(fill(1, 1, store).await, "-#1", "{store}");

                // The same through an `async` block, as before.
                let dropped =
                    tenant::scope("acme", async { fill_cache(1, 1).invalidate().await }).await;
                assert!(matches!(dropped, Ok(true)), "{store}: {dropped:?}");

                // A put made outside the scope writes acme's entry.
                tenant::scope("acme", fill_cache(1, 1).put(&"put".to_owned())).await;
                assert_eq!(
                    tenant::scope("acme", fill(1, 1, store)).await,
                    "put",
                    "{store}"
                );
                assert_eq!(runs(store, Some("acme")), 2, "{store}: served from the put");

                // `key()` is synchronous: it reads the scope it is called in.
                let entry = fill_cache(1, 1);
                let key = tenant::scope("acme", async { entry.key() }).await;
                assert_eq!(key.as_deref(), Some("v1:t=acme:fill:~1:~1"), "{store}");
                assert_eq!(entry.key().as_deref(), Some("v1:_:fill:~1:~1"), "{store}");

                // Many entries, made outside, read in one scope.
                let entries = vec![fill_cache(1, 1), fill_cache(2, 2)];
                let found = tenant::scope("globex", CacheEntry::peek_many(entries)).await;
                assert_eq!(found, [Some("globex#1".to_owned()), None], "{store}");
            })
            .await;
    }
}

#[tokio::test]
async fn a_companion_of_a_tenant_scoped_function_made_outside_any_tenant_still_finds_the_entry() {
    let cache = CacheBuilder::new()
        .build()
        .await
        .expect("the in-process cache");
    cache
        .scope(async {
            assert_eq!(
                tenant::scope("acme", session(7, "tenant-scoped"))
                    .await
                    .as_deref(),
                Some("acme#1")
            );
            // `require_tenant`: made outside any tenant, the companion used to be inert.
            let peek = tenant::scope("acme", session_cache(7).peek()).await;
            assert_eq!(peek, Some(Some("acme#1".to_owned())));
            let dropped = tenant::scope("acme", session_cache(7).invalidate()).await;
            assert!(matches!(dropped, Ok(true)), "{dropped:?}");
            assert_eq!(
                tenant::scope("acme", session(7, "tenant-scoped"))
                    .await
                    .as_deref(),
                Some("acme#2")
            );
            // Awaited outside any tenant, it still does nothing.
            assert!(matches!(session_cache(7).invalidate().await, Ok(false)));
            assert_eq!(session_cache(7).key(), None);
        })
        .await;
}

#[tokio::test]
async fn a_companion_made_outside_a_cache_scope_acts_on_the_cache_it_is_awaited_in() {
    for (store, cache, _server) in stores().await {
        let name = format!("outside:{store}");
        cache
            .scope(tenant::scope("acme", session(8, "outside")))
            .await;
        // Made where no cache is in use (this test binary installs none).
        let entry = session_cache(8);
        assert_eq!(entry.key(), None, "{store}: no cache here");
        let peek = cache.scope(tenant::scope("acme", entry.peek())).await;
        assert!(matches!(peek, Some(Some(_))), "{name}: {peek:?}");
        let entry = session_cache(8);
        let dropped = cache.scope(tenant::scope("acme", entry.invalidate())).await;
        assert!(matches!(dropped, Ok(true)), "{name}: {dropped:?}");
        let entry = session_cache(8);
        let peek = cache.scope(tenant::scope("acme", entry.peek())).await;
        assert_eq!(peek, None, "{name}: the entry is gone");
    }
}
