//! Companions (`<name>_cache(…)`) read the tenant and the cache when their operation runs, not
//! when they are made: `tenant::scope("acme", fill_cache(1, 1).invalidate())` drops acme's entry
//! just as `tenant::scope("acme", async { fill_cache(1, 1).invalidate().await })` does, and a
//! companion made outside `Cache::scope` works on the cache of the scope it is awaited in.
//!
//! Every scenario runs against the in-process store (`in_process::…`) and against a Redis the
//! test starts: a single server and a three-master cluster (`on_redis::{single,cluster}::…`),
//! see [`cache_tests::backend`]. Each function counts its runs per store and tenant, so a count
//! says exactly when the body ran.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use cache_runtime::{cached, tenant, Cache, CacheBuilder, CacheEntry};
use cache_tests::{backend_tests, Backend};

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

/// One store a scenario runs on: `name` tells its runs apart from the other stores' (`memory`,
/// `single`, `cluster`), `backend` is its Redis (`None`: the in-process store).
struct Store<'a> {
    name: &'static str,
    cache: Cache,
    backend: Option<&'a Backend>,
}

impl<'a> Store<'a> {
    async fn in_process() -> Store<'static> {
        let cache = CacheBuilder::new()
            .build()
            .await
            .expect("the in-process cache");
        Store {
            name: "memory",
            cache,
            backend: None,
        }
    }

    async fn on(backend: &'a Backend) -> Store<'a> {
        Store {
            name: backend.name(),
            cache: backend.cache().await,
            backend: Some(backend),
        }
    }

    /// The name the store gives the key `name`: `name` itself in process, or as
    /// [`Backend::key`] says.
    fn key(&self, name: &str) -> String {
        self.backend
            .map_or_else(|| name.to_owned(), |backend| backend.key(name))
    }
}

/// Forgets the runs counted under `counter`: the test's variants (in process, on a server, on
/// a cluster) use counters of their own, and each starts from zero.
fn forget(counter: &'static str) {
    RUNS.lock().unwrap().retain(|(name, _), _| *name != counter);
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

async fn a_companion_made_outside_a_tenant_scope_acts_in_the_scope_it_is_awaited_in(on: Store<'_>) {
    let (store, cache) = (on.name, &on.cache);
    forget(store);
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
            assert_eq!(key, Some(on.key("v1:t=acme:fill:~1:~1")), "{store}");
            assert_eq!(entry.key(), Some(on.key("v1:_:fill:~1:~1")), "{store}");

            // Many entries, made outside, read in one scope.
            let entries = vec![fill_cache(1, 1), fill_cache(2, 2)];
            let found = tenant::scope("globex", CacheEntry::peek_many(entries)).await;
            assert_eq!(found, [Some("globex#1".to_owned()), None], "{store}");
        })
        .await;
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

async fn a_companion_made_outside_a_cache_scope_acts_on_the_cache_it_is_awaited_in(on: Store<'_>) {
    let (store, cache) = (on.name, &on.cache);
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

/// Generates `in_process::<scenario>` and `on_redis::{single,cluster}::<scenario>` for each
/// scenario.
macro_rules! on_every_store {
    ($($scenario:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Store::in_process().await).await;
                }
            )*
        }
        mod on_redis {
            use super::*;
            $(
                async fn $scenario(backend: Backend) {
                    super::$scenario(Store::on(&backend).await).await;
                }
            )*
            backend_tests!($($scenario),*);
        }
    };
}

on_every_store!(
    a_companion_made_outside_a_tenant_scope_acts_in_the_scope_it_is_awaited_in,
    a_companion_made_outside_a_cache_scope_acts_on_the_cache_it_is_awaited_in,
);
