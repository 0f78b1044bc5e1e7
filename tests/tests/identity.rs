//! Identity: two cached functions, or two TTL policies, that share a name but not a place in the
//! source never share entries, and invalidating one leaves the other cached.
//!
//! - Policies: `a::Ttl::Rates` and `b::Ttl::Rates` (same enum and variant names, two modules), and
//!   `FxTtl::Rates` and `QuoteTtl::Rates` (two enums of one module). Each pair shares its name
//!   (`rates`), hence its counters and its override; `invalidate_policy` and
//!   `invalidate_tenant_policy` go by [`TtlPolicy::path`] and drop the entries of one enum only.
//! - Associated functions: `Users::load` and `Orders::load` in one module, with derived keys,
//!   each get their own key and entries, and `Users::load_cache(…).invalidate_function()` drops
//!   `Users::load`'s entries only.
//! - Nested functions: a `helper` inside `doubled` and another inside `tripled` each get their
//!   own entries.
//! - Generic impls: `Svc::<u8>::sized` and `Svc::<u64>::sized`, one associated function of
//!   `impl<T> Svc<T>` with a derived key, each get their own entries.
//!
//! Each scenario is written once, as a function over a [`Store`] and the [`Fixture`]s it drives,
//! and runs twice: against the in-process store and against a `redis-server` started for the test
//! (`in_process::<test>` and `redis_server::<test>`). The cached functions and their run counters
//! are generated once per store by `tests_on!`, so the two tests of a scenario, which run in
//! parallel, never share a counter.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;

use cache_runtime::{tenant, Cache, CacheBuilder, CacheEntry, TtlPolicy};
use cache_tests::inspect::{get_entry, json, redis_cache, runs};
use cache_tests::RedisServer;
use redis::aio::MultiplexedConnection;

// The policies --------------------------------------------------------------------------------

mod a {
    #[derive(cache_runtime::TtlPolicy)]
    pub enum Ttl {
        #[ttl("1h")]
        Rates,
    }
}

mod b {
    #[derive(cache_runtime::TtlPolicy)]
    pub enum Ttl {
        #[ttl("1h")]
        Rates,
    }
}

#[derive(cache_runtime::TtlPolicy)]
enum FxTtl {
    #[ttl("1h")]
    Rates,
}

#[derive(cache_runtime::TtlPolicy)]
enum QuoteTtl {
    #[ttl("1h")]
    Rates,
}

/// The premise of the policy scenarios, independent of any store: the variants share a name
/// (and so their counters), and their paths, by which entries are invalidated, differ.
#[test]
fn same_named_variants_share_the_name_and_differ_in_path() {
    assert_eq!(a::Ttl::Rates.name(), "rates");
    assert_eq!(b::Ttl::Rates.name(), "rates");
    assert_eq!(FxTtl::Rates.name(), "rates");
    assert_eq!(QuoteTtl::Rates.name(), "rates");
    assert_eq!(a::Ttl::Rates.path(), "identity::a::Ttl::Rates");
    assert_eq!(b::Ttl::Rates.path(), "identity::b::Ttl::Rates");
    assert_eq!(FxTtl::Rates.path(), "identity::FxTtl::Rates");
    assert_eq!(QuoteTtl::Rates.path(), "identity::QuoteTtl::Rates");
}

// The store and the functions -----------------------------------------------------------------

/// A cache under test: the in-process store, or Redis with the test's own connection to it.
struct Store {
    cache: Cache,
    redis: Option<(RedisServer, MultiplexedConnection)>,
}

impl Store {
    /// What a scope invalidation returns: the entries the in-process store deleted; none in
    /// Redis, which draws a new generation instead.
    fn scoped(&self, deleted_in_process: u64) -> u64 {
        match self.redis {
            Some(_) => 0,
            None => deleted_in_process,
        }
    }

    async fn in_process() -> Store {
        let cache = CacheBuilder::new()
            .build()
            .await
            .expect("build the in-process cache");
        assert_eq!(cache.stats().backend, "memory");
        Store { cache, redis: None }
    }

    async fn redis_server() -> Store {
        let server = RedisServer::start();
        let cache = redis_cache(&server).await;
        assert_eq!(cache.stats().backend, "redis");
        let connection = server.connection().await;
        Store {
            cache,
            redis: Some((server, connection)),
        }
    }

    /// Runs `future` with the cache and, if any, `tenant` in scope.
    async fn within<F: Future>(&self, tenant: Option<&str>, future: F) -> F::Output {
        match tenant {
            Some(id) => self.cache.scope(tenant::scope(id, future)).await,
            None => self.cache.scope(future).await,
        }
    }

    /// Redis only: the bytes at `key` (`None` for the in-process store).
    async fn raw(&mut self, key: &str) -> Option<Option<Vec<u8>>> {
        let (_, connection) = self.redis.as_mut()?;
        Some(get_entry(connection, key).await)
    }

    /// Redis only: every cache entry on the server, sorted: every key except the index sets
    /// (`v1:idx:…`), found with `SCAN` (`None` for the in-process store).
    async fn entry_keys(&mut self) -> Option<Vec<String>> {
        let (_, connection) = self.redis.as_mut()?;
        let mut keys = cache_tests::inspect::scan_keys(connection).await;
        keys.retain(|key| !cache_tests::backend::is_bookkeeping(key));
        Some(keys)
    }
}

/// What a call is expected to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The body runs (once).
    Runs,
    /// The cache answers; the body does not run.
    Hit,
}

/// One `#[cached]` function of a scenario: how to call it, its companion, its run counter and
/// what its body returns.
struct Fixture {
    /// For messages.
    name: &'static str,
    call: fn(u32) -> Pin<Box<dyn Future<Output = u32>>>,
    /// The companion `<name>_cache`; `None` where it is out of reach (in a function body).
    entry: Option<fn(u32) -> CacheEntry<u32>>,
    runs: &'static AtomicUsize,
    /// What the body returns for an argument; it differs between the functions of a scenario.
    value: fn(u32) -> u32,
}

impl Fixture {
    /// Calls the function with `x` in `tenant`: it must return its own value, and run or not.
    async fn expect_call(
        &self,
        store: &Store,
        tenant: Option<&str>,
        x: u32,
        outcome: Outcome,
        what: &str,
    ) {
        let name = self.name;
        let before = runs(self.runs);
        let value = store.within(tenant, (self.call)(x)).await;
        assert_eq!(
            value,
            (self.value)(x),
            "{what}: {name}({x}) in tenant {tenant:?} must return its own value"
        );
        let expected = match outcome {
            Outcome::Runs => before + 1,
            Outcome::Hit => before,
        };
        assert_eq!(
            runs(self.runs),
            expected,
            "{what}: {name}({x}) in tenant {tenant:?}: expected {outcome:?}"
        );
    }

    fn entry(&self) -> fn(u32) -> CacheEntry<u32> {
        self.entry
            .unwrap_or_else(|| panic!("{} has no companion in reach", self.name))
    }

    /// The full key of the call with `x` in `tenant`, from the companion.
    async fn key(&self, store: &Store, tenant: Option<&str>, x: u32) -> String {
        let entry = self.entry();
        store
            .within(tenant, async { entry(x).key() })
            .await
            .unwrap_or_else(|| panic!("{}_cache({x}) in tenant {tenant:?}: no key", self.name))
    }

    /// Whether the entry of the call with `x` in `tenant` holds the function's value, seen by
    /// the companion's `peek` and, on Redis, by a plain `GET` of its key.
    async fn expect_stored(
        &self,
        store: &mut Store,
        tenant: Option<&str>,
        x: u32,
        stored: bool,
        what: &str,
    ) {
        let name = self.name;
        let entry = self.entry();
        let expected = stored.then(|| (self.value)(x));
        let peeked = store.within(tenant, async { entry(x).peek().await }).await;
        assert_eq!(
            peeked, expected,
            "{what}: the entry of {name}({x}) in tenant {tenant:?}"
        );
        // An entry dropped by scope stays in Redis, stamped with an old generation: only a
        // stored one is checked there.
        let key = self.key(store, tenant, x).await;
        if let (Some(raw), Some(value)) = (store.raw(&key).await, expected) {
            assert_eq!(
                raw,
                Some(json(&value)),
                "{what}: what Redis holds at `{key}`, the entry of {name}({x})"
            );
        }
    }
}

const TENANTS: [Option<&str>; 2] = [None, Some("t")];

/// The cached functions, their counters and the tests of one store, in a module named after the
/// store (`in_process`, `redis_server`); the scenarios are the functions of the same names below.
macro_rules! tests_on {
    ($store:ident) => {
        mod $store {
            use std::sync::atomic::{AtomicUsize, Ordering};

            use cache_runtime::cached;

            use super::{Fixture, Store};

            fn ran(runs: &AtomicUsize) {
                runs.fetch_add(1, Ordering::SeqCst);
            }

            // Same-named policy variants.

            static A_RUNS: AtomicUsize = AtomicUsize::new(0);
            static B_RUNS: AtomicUsize = AtomicUsize::new(0);
            static FX_RUNS: AtomicUsize = AtomicUsize::new(0);
            static QUOTE_RUNS: AtomicUsize = AtomicUsize::new(0);

            #[cached(key = "a_rate:{x}", ttl = crate::a::Ttl::Rates)]
            async fn a_rate(x: u32) -> u32 {
                ran(&A_RUNS);
                1000 + x
            }

            #[cached(key = "b_rate:{x}", ttl = crate::b::Ttl::Rates)]
            async fn b_rate(x: u32) -> u32 {
                ran(&B_RUNS);
                2000 + x
            }

            #[cached(key = "fx_rate:{x}", ttl = crate::FxTtl::Rates)]
            async fn fx_rate(x: u32) -> u32 {
                ran(&FX_RUNS);
                3000 + x
            }

            #[cached(key = "quote_rate:{x}", ttl = crate::QuoteTtl::Rates)]
            async fn quote_rate(x: u32) -> u32 {
                ran(&QUOTE_RUNS);
                4000 + x
            }

            #[tokio::test]
            async fn same_named_variants_of_two_modules_are_invalidated_apart() {
                let a = Fixture {
                    name: "a_rate",
                    call: |x| Box::pin(a_rate(x)),
                    entry: Some(a_rate_cache),
                    runs: &A_RUNS,
                    value: |x| 1000 + x,
                };
                let b = Fixture {
                    name: "b_rate",
                    call: |x| Box::pin(b_rate(x)),
                    entry: Some(b_rate_cache),
                    runs: &B_RUNS,
                    value: |x| 2000 + x,
                };
                super::same_named_variants_are_invalidated_apart(
                    &mut Store::$store().await,
                    (&a, &crate::a::Ttl::Rates),
                    (&b, &crate::b::Ttl::Rates),
                )
                .await;
            }

            #[tokio::test]
            async fn same_named_variants_of_two_enums_are_invalidated_apart() {
                let fx = Fixture {
                    name: "fx_rate",
                    call: |x| Box::pin(fx_rate(x)),
                    entry: Some(fx_rate_cache),
                    runs: &FX_RUNS,
                    value: |x| 3000 + x,
                };
                let quote = Fixture {
                    name: "quote_rate",
                    call: |x| Box::pin(quote_rate(x)),
                    entry: Some(quote_rate_cache),
                    runs: &QUOTE_RUNS,
                    value: |x| 4000 + x,
                };
                super::same_named_variants_are_invalidated_apart(
                    &mut Store::$store().await,
                    (&fx, &crate::FxTtl::Rates),
                    (&quote, &crate::QuoteTtl::Rates),
                )
                .await;
            }

            // Same-named associated functions, derived keys.

            static USERS_RUNS: AtomicUsize = AtomicUsize::new(0);
            static ORDERS_RUNS: AtomicUsize = AtomicUsize::new(0);

            #[allow(dead_code)] // a namespace, never constructed
            struct Users;
            #[allow(dead_code)] // a namespace, never constructed
            struct Orders;

            impl Users {
                #[cached(ttl = "1h")]
                async fn load(id: u32) -> u32 {
                    ran(&USERS_RUNS);
                    id * 10
                }
            }

            impl Orders {
                #[cached(ttl = "1h")]
                async fn load(id: u32) -> u32 {
                    ran(&ORDERS_RUNS);
                    id * 100
                }
            }

            #[tokio::test]
            async fn same_named_associated_functions_have_their_own_entries() {
                let users = Fixture {
                    name: "Users::load",
                    call: |id| Box::pin(Users::load(id)),
                    entry: Some(Users::load_cache),
                    runs: &USERS_RUNS,
                    value: |id| id * 10,
                };
                let orders = Fixture {
                    name: "Orders::load",
                    call: |id| Box::pin(Orders::load(id)),
                    entry: Some(Orders::load_cache),
                    runs: &ORDERS_RUNS,
                    value: |id| id * 100,
                };
                super::same_named_associated_functions_have_their_own_entries(
                    &mut Store::$store().await,
                    &users,
                    &orders,
                )
                .await;
            }

            // Same-named nested functions, derived keys.

            static DOUBLED_RUNS: AtomicUsize = AtomicUsize::new(0);
            static TRIPLED_RUNS: AtomicUsize = AtomicUsize::new(0);

            async fn doubled(x: u32) -> u32 {
                #[cached(ttl = "1h")]
                async fn helper(x: u32) -> u32 {
                    ran(&DOUBLED_RUNS);
                    x * 2
                }
                helper(x).await
            }

            async fn tripled(x: u32) -> u32 {
                #[cached(ttl = "1h")]
                async fn helper(x: u32) -> u32 {
                    ran(&TRIPLED_RUNS);
                    x * 3
                }
                helper(x).await
            }

            // An associated function of a generic impl, derived keys.

            static SVC_U8_RUNS: AtomicUsize = AtomicUsize::new(0);
            static SVC_U64_RUNS: AtomicUsize = AtomicUsize::new(0);

            #[allow(dead_code)] // a namespace, never constructed
            struct Svc<T>(std::marker::PhantomData<T>);

            impl<T> Svc<T> {
                #[cached(ttl = "1h")]
                async fn sized(x: u32) -> u32 {
                    let size = std::mem::size_of::<T>();
                    ran(if size == 1 {
                        &SVC_U8_RUNS
                    } else {
                        &SVC_U64_RUNS
                    });
                    x * 100 + size as u32
                }
            }

            #[tokio::test]
            async fn instances_of_a_generic_impl_have_their_own_entries() {
                let u8s = Fixture {
                    name: "Svc::<u8>::sized",
                    call: |x| Box::pin(Svc::<u8>::sized(x)),
                    entry: Some(Svc::<u8>::sized_cache),
                    runs: &SVC_U8_RUNS,
                    value: |x| x * 100 + 1,
                };
                let u64s = Fixture {
                    name: "Svc::<u64>::sized",
                    call: |x| Box::pin(Svc::<u64>::sized(x)),
                    entry: Some(Svc::<u64>::sized_cache),
                    runs: &SVC_U64_RUNS,
                    value: |x| x * 100 + 8,
                };
                super::instances_of_a_generic_impl_have_their_own_entries(
                    &mut Store::$store().await,
                    &u8s,
                    &u64s,
                )
                .await;
            }

            #[tokio::test]
            async fn same_named_nested_functions_have_their_own_entries() {
                let doubled = Fixture {
                    name: "doubled::helper",
                    call: |x| Box::pin(doubled(x)),
                    entry: None,
                    runs: &DOUBLED_RUNS,
                    value: |x| x * 2,
                };
                let tripled = Fixture {
                    name: "tripled::helper",
                    call: |x| Box::pin(tripled(x)),
                    entry: None,
                    runs: &TRIPLED_RUNS,
                    value: |x| x * 3,
                };
                super::same_named_nested_functions_have_their_own_entries(
                    &mut Store::$store().await,
                    &doubled,
                    &tripled,
                )
                .await;
            }
        }
    };
}

tests_on!(in_process);
tests_on!(redis_server);

// The scenarios -------------------------------------------------------------------------------

/// `first` is cached under `first_policy`, `second` under a variant of another enum with the
/// same name. Invalidating `first_policy`, for one tenant then for all, drops `first`'s entries
/// only: with invalidation by name, `second` would run again.
async fn same_named_variants_are_invalidated_apart(
    store: &mut Store,
    (first, first_policy): (&Fixture, &dyn TtlPolicy),
    (second, second_policy): (&Fixture, &dyn TtlPolicy),
) {
    assert_eq!(first_policy.name(), second_policy.name(), "the premise");
    assert_ne!(first_policy.path(), second_policy.path(), "the premise");

    for tenant in TENANTS {
        for f in [first, second] {
            f.expect_call(store, tenant, 1, Outcome::Runs, "the first call")
                .await;
            f.expect_call(store, tenant, 1, Outcome::Hit, "the second call")
                .await;
        }
    }
    for tenant in TENANTS {
        for f in [first, second] {
            f.expect_stored(store, tenant, 1, true, "after the calls")
                .await;
        }
    }

    // One tenant: `first`'s entry of tenant `t` only.
    let what = "after invalidate_tenant_policy(t, first's policy)";
    let deleted = store
        .cache
        .invalidate_tenant_policy(Some("t"), first_policy)
        .await;
    assert_eq!(
        deleted.unwrap(),
        store.scoped(1),
        "{what}: one entry deleted (none in Redis, which draws a new generation)"
    );
    first.expect_stored(store, Some("t"), 1, false, what).await;
    first.expect_stored(store, None, 1, true, what).await;
    for tenant in TENANTS {
        second.expect_stored(store, tenant, 1, true, what).await;
    }
    first
        .expect_call(store, Some("t"), 1, Outcome::Runs, what)
        .await;
    first.expect_call(store, None, 1, Outcome::Hit, what).await;
    for tenant in TENANTS {
        second
            .expect_call(store, tenant, 1, Outcome::Hit, what)
            .await;
    }

    // Every tenant: `first`'s entries, none of `second`'s.
    let what = "after invalidate_policy(first's policy)";
    let deleted = store.cache.invalidate_policy(first_policy).await;
    assert_eq!(
        deleted.unwrap(),
        store.scoped(2),
        "{what}: one entry per tenant deleted (none in Redis, which draws a new generation)"
    );
    for tenant in TENANTS {
        first.expect_stored(store, tenant, 1, false, what).await;
        second.expect_stored(store, tenant, 1, true, what).await;
    }
    for tenant in TENANTS {
        first
            .expect_call(store, tenant, 1, Outcome::Runs, what)
            .await;
        second
            .expect_call(store, tenant, 1, Outcome::Hit, what)
            .await;
    }
}

/// `Users::load` and `Orders::load`, derived keys: each has its own key and entries (with one
/// key, `Orders::load(1)` would return `Users::load(1)`'s value), and invalidating the one
/// function leaves the other's entries.
async fn same_named_associated_functions_have_their_own_entries(
    store: &mut Store,
    users: &Fixture,
    orders: &Fixture,
) {
    const IDS: [u32; 2] = [1, 2];
    for id in IDS {
        let users_key = users.key(store, None, id).await;
        let orders_key = orders.key(store, None, id).await;
        assert_ne!(
            users_key, orders_key,
            "the keys of Users::load({id}) and Orders::load({id})"
        );
    }

    for id in IDS {
        for f in [users, orders] {
            f.expect_call(store, None, id, Outcome::Runs, "the first call")
                .await;
        }
    }
    for id in IDS {
        for f in [users, orders] {
            f.expect_call(store, None, id, Outcome::Hit, "the second call")
                .await;
            f.expect_stored(store, None, id, true, "after the calls")
                .await;
        }
    }
    let mut expected_keys = Vec::new();
    for id in IDS {
        expected_keys.push(users.key(store, None, id).await);
        expected_keys.push(orders.key(store, None, id).await);
    }
    expected_keys.sort();
    if let Some(keys) = store.entry_keys().await {
        assert_eq!(keys, expected_keys, "the entries in Redis after the calls");
    }

    let what = "after Users::load_cache(1).invalidate_function()";
    let entry = users.entry();
    let deleted = store
        .within(None, async { entry(1).invalidate_function().await })
        .await;
    assert_eq!(
        deleted.unwrap(),
        store.scoped(2),
        "{what}: Users::load's entries deleted (none in Redis, which draws a new generation)"
    );
    for id in IDS {
        users.expect_stored(store, None, id, false, what).await;
        orders.expect_stored(store, None, id, true, what).await;
    }
    for id in IDS {
        users
            .expect_call(store, None, id, Outcome::Runs, what)
            .await;
        orders
            .expect_call(store, None, id, Outcome::Hit, what)
            .await;
    }
}

/// A `helper` inside `doubled` and another inside `tripled`, derived keys: each runs once and
/// returns its own value (with one key, `tripled(5)` would return `doubled(5)`'s value).
async fn same_named_nested_functions_have_their_own_entries(
    store: &mut Store,
    doubled: &Fixture,
    tripled: &Fixture,
) {
    for f in [doubled, tripled] {
        f.expect_call(store, None, 5, Outcome::Runs, "the first call")
            .await;
    }
    for f in [doubled, tripled] {
        f.expect_call(store, None, 5, Outcome::Hit, "the second call")
            .await;
    }
    if let Some(keys) = store.entry_keys().await {
        assert_eq!(keys.len(), 2, "one entry per helper in Redis: {keys:?}");
    }
}

/// `Svc::<u8>::sized` and `Svc::<u64>::sized`, one associated function of `impl<T> Svc<T>` with a
/// derived key: each instance runs once, returns its own value (with one key, `Svc::<u64>`
/// would return `Svc::<u8>`'s value) and has its own key, which its companion computes too.
async fn instances_of_a_generic_impl_have_their_own_entries(
    store: &mut Store,
    u8s: &Fixture,
    u64s: &Fixture,
) {
    for f in [u8s, u64s] {
        f.expect_call(store, None, 5, Outcome::Runs, "the first call")
            .await;
    }
    for f in [u8s, u64s] {
        f.expect_call(store, None, 5, Outcome::Hit, "the second call")
            .await;
        f.expect_stored(store, None, 5, true, "after the calls")
            .await;
    }
    let u8_key = u8s.key(store, None, 5).await;
    let u64_key = u64s.key(store, None, 5).await;
    assert_ne!(u8_key, u64_key, "the keys of the two instances");
    if let Some(keys) = store.entry_keys().await {
        let mut expected = vec![u8_key, u64_key];
        expected.sort();
        assert_eq!(keys, expected, "one entry per instance in Redis");
    }
}
