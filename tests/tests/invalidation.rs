//! Invalidation: every way to drop entries makes the next call recompute exactly the entries it
//! names, and leaves every other entry cached.
//!
//! Most scenarios run three times: against the in-process store, a `redis-server` and a
//! three-master cluster started for the test (`in_process::<scenario>`,
//! `on_redis::single::<scenario>`, `on_redis::cluster::<scenario>`). Each works on a small
//! world: two functions (`quote` under `Policy::StockPrice`, `news` under `Policy::NewsData`, both
//! tagged `ticker:{ticker}`) × three tenants (`acme`, `globex`, none) × two tickers, twelve
//! entries in all. After one invalidation, [`World::expect_dropped`] checks every entry three ways: `peek`
//! (gone or unchanged), the keys left in Redis (every key of every master), and a real call (the dropped
//! ones run the function again, the others are answered from the cache with the old value).
//!
//! The execution counter is passed to the functions as an argument that is not part of the key,
//! so each test counts its own runs exactly while tests run in parallel. The last tests run two
//! caches with a local tier on one Redis (a server or a cluster), as two processes would: an
//! invalidation in one must drop the other's in-process copy.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cache_runtime::{cache_evict, cache_put, cached, tenant, Cache, CacheBuilder, Policy, Tag};
use cache_tests::backend::{is_bookkeeping, untagged};
use cache_tests::inspect::{json, until_listening};
use cache_tests::{backend_tests, Backend, Raw};
use serde::{Deserialize, Serialize};

// The world ----------------------------------------------------------------------------------

/// What the functions return: who computed it, and in which run (0 for a value put directly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Priced {
    ticker: String,
    tenant: Option<String>,
    run: u32,
    price: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Func {
    Quote,
    News,
}

/// One entry of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    func: Func,
    tenant: Option<&'static str>,
    ticker: &'static str,
}

const TENANTS: [Option<&str>; 3] = [Some("acme"), Some("globex"), None];
const TICKERS: [&str; 2] = ["7203", "6758"];

fn slots() -> impl Iterator<Item = Slot> {
    [Func::Quote, Func::News].into_iter().flat_map(|func| {
        TENANTS.into_iter().flat_map(move |tenant| {
            TICKERS.into_iter().map(move |ticker| Slot {
                func,
                tenant,
                ticker,
            })
        })
    })
}

/// The documented layout, `{prefix}:{tenant}:{key}` (these tenants need no escaping), as on
/// one server; [`World::key`] gives the name in the store at hand.
fn key_of(slot: Slot) -> String {
    let tenant = slot.tenant.map_or("_".to_owned(), |t| format!("t={t}"));
    let name = match slot.func {
        Func::Quote => "quote",
        Func::News => "news",
    };
    format!("v1:{tenant}:{name}:{}", slot.ticker)
}

/// A world function's runs are counted per function, tenant and ticker.
type RunId = (Func, Option<String>, String);

/// Runs of the world's functions.
#[derive(Default)]
struct Runs(Mutex<HashMap<RunId, u32>>);

impl Runs {
    /// Counts one run in the current tenant and returns its number.
    fn record(&self, func: Func, ticker: &str) -> u32 {
        let tenant = tenant::current().map(|t| t.to_string());
        let mut runs = self.0.lock().unwrap();
        let count = runs.entry((func, tenant, ticker.to_owned())).or_default();
        *count += 1;
        *count
    }

    fn of(&self, slot: Slot) -> u32 {
        let runs = self.0.lock().unwrap();
        let id = (
            slot.func,
            slot.tenant.map(str::to_owned),
            slot.ticker.to_owned(),
        );
        runs.get(&id).copied().unwrap_or(0)
    }
}

fn computed(ticker: &str, run: u32) -> Priced {
    Priced {
        ticker: ticker.to_owned(),
        tenant: tenant::current().map(|t| t.to_string()),
        run,
        price: 100.0 + f64::from(run),
    }
}

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice, tags = ["ticker:{ticker}"])]
async fn quote(ticker: &str, runs: &Runs) -> Result<Priced, String> {
    Ok(computed(ticker, runs.record(Func::Quote, ticker)))
}

#[cached(key = "news:{ticker}", ttl = Policy::NewsData, tags = ["ticker:{ticker}"])]
async fn news(ticker: &str, runs: &Runs) -> Result<Priced, String> {
    Ok(computed(ticker, runs.record(Func::News, ticker)))
}

/// The path `invalidate_function` takes: `module_path!()` (this test crate) and the name.
const QUOTE_PATH: &str = "invalidation::quote";
const NEWS_PATH: &str = "invalidation::news";

/// Runs `future` with `cache` and, if any, `tenant` in scope.
async fn within<F: Future>(cache: &Cache, tenant: Option<&str>, future: F) -> F::Output {
    match tenant {
        Some(id) => cache.scope(tenant::scope(id, future)).await,
        None => cache.scope(future).await,
    }
}

struct World {
    cache: Cache,
    /// The Redis (server or cluster) and the test's own connection to it; `None` for the
    /// in-process store.
    redis: Option<(Backend, Raw)>,
    runs: Runs,
    /// The value each slot served last.
    seen: HashMap<Slot, Priced>,
    /// Entries besides the world's that the scenario expects in Redis (single-server names).
    other_entries: Vec<String>,
}

impl World {
    async fn in_process() -> World {
        let cache = CacheBuilder::new()
            .build()
            .await
            .expect("build the in-process cache");
        assert_eq!(cache.stats().backend, "memory");
        World::over(cache, None)
    }

    async fn on(backend: Backend) -> World {
        let cache = backend.cache().await;
        assert_eq!(cache.stats().backend, "redis");
        let connection = backend.connection().await;
        World::over(cache, Some((backend, connection)))
    }

    fn over(cache: Cache, redis: Option<(Backend, Raw)>) -> World {
        World {
            cache,
            redis,
            runs: Runs::default(),
            seen: HashMap::new(),
            other_entries: Vec::new(),
        }
    }

    async fn within<F: Future>(&self, tenant: Option<&str>, future: F) -> F::Output {
        within(&self.cache, tenant, future).await
    }

    /// The name the store gives the key `name` of the single-server layout: on a cluster, with
    /// its hash tag.
    fn key(&self, name: &str) -> String {
        match &self.redis {
            Some((backend, _)) => backend.key(name),
            None => name.to_owned(),
        }
    }

    async fn call(&self, slot: Slot) -> Priced {
        let result = match slot.func {
            Func::Quote => {
                self.within(slot.tenant, quote(slot.ticker, &self.runs))
                    .await
            }
            Func::News => {
                self.within(slot.tenant, news(slot.ticker, &self.runs))
                    .await
            }
        };
        result.unwrap_or_else(|e| panic!("{slot:?} failed: {e}"))
    }

    /// What the cache holds for `slot`, without running anything. The companion is made inside
    /// the scopes: it takes the cache and the tenant in use where it is made.
    async fn peek(&self, slot: Slot) -> Option<Priced> {
        let peeked = match slot.func {
            Func::Quote => {
                self.within(slot.tenant, async { quote_cache(slot.ticker).peek().await })
                    .await
            }
            Func::News => {
                self.within(slot.tenant, async { news_cache(slot.ticker).peek().await })
                    .await
            }
        };
        peeked.map(|result| result.unwrap_or_else(|e| panic!("{slot:?} peeked an Err: {e}")))
    }

    /// Computes every entry once.
    async fn fill(&mut self) {
        for slot in slots() {
            assert_eq!(
                self.peek(slot).await,
                None,
                "{slot:?} before the first call"
            );
            let value = self.call(slot).await;
            assert_eq!(value.run, 1, "{slot:?}: the first call runs the function");
            self.seen.insert(slot, value);
        }
        self.expect_dropped("after filling", |_| false).await;
    }

    /// After `what`: exactly the slots for which `dropped` holds are gone (peek, Redis keys) and
    /// recompute on the next call; every other slot still serves its old value without running.
    async fn expect_dropped(&mut self, what: &str, dropped: impl Fn(&Slot) -> bool) {
        for slot in slots() {
            let peeked = self.peek(slot).await;
            if dropped(&slot) {
                assert_eq!(peeked, None, "{what}: {slot:?} must be gone");
            } else {
                assert_eq!(
                    peeked.as_ref(),
                    Some(&self.seen[&slot]),
                    "{what}: {slot:?} must still be cached"
                );
            }
        }
        if let Some((backend, connection)) = &mut self.redis {
            let mut expected: Vec<String> = slots()
                .filter(|s| !dropped(s))
                .map(key_of)
                .chain(self.other_entries.iter().cloned())
                .map(|name| backend.key(&name))
                .collect();
            expected.sort();
            // An invalidated scope's entries stay in Redis, never served again, until their
            // TTL: every entry still served must be there.
            let left = entry_keys(backend, connection).await;
            for key in &expected {
                assert!(
                    left.contains(key),
                    "{what}: `{key}` must be left in Redis: {left:?}"
                );
            }
        }
        for slot in slots() {
            let before = self.runs.of(slot);
            let value = self.call(slot).await;
            if dropped(&slot) {
                assert_eq!(
                    self.runs.of(slot),
                    before + 1,
                    "{what}: {slot:?} must run again"
                );
                assert_eq!(value.run, before + 1, "{what}: {slot:?} serves the new run");
            } else {
                assert_eq!(
                    self.runs.of(slot),
                    before,
                    "{what}: {slot:?} must be served from the cache"
                );
                assert_eq!(
                    value, self.seen[&slot],
                    "{what}: {slot:?} serves its old value"
                );
            }
            self.seen.insert(slot, value);
        }
    }

    /// What a scope invalidation returns: the number of entries the in-process store deleted;
    /// Redis deletes none (it draws a new generation, and the entries are never served again).
    fn scoped(&self, deleted_in_process: u64) -> u64 {
        match self.redis {
            Some(_) => 0,
            None => deleted_in_process,
        }
    }
}

/// The cache entries in Redis: every key but the bookkeeping (generations, index sets) and
/// the tombstones that key invalidations leave.
async fn entry_keys(backend: &Backend, connection: &mut Raw) -> Vec<String> {
    let mut entries = Vec::new();
    for key in backend.keys().await {
        if !is_bookkeeping(&key) && connection.entry(&key).await.is_some() {
            entries.push(key);
        }
    }
    entries
}

/// Generates `in_process::<scenario>` and `on_redis::{single,cluster}::<scenario>` for each
/// scenario.
macro_rules! on_every_store {
    ($($scenario:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(&mut super::World::in_process().await).await;
                }
            )*
        }
        mod on_redis {
            use super::*;
            $(
                async fn $scenario(backend: Backend) {
                    super::$scenario(&mut World::on(backend).await).await;
                }
            )*
            backend_tests!($($scenario),*);
        }
    };
}

on_every_store!(
    companion_has_the_documented_key_and_drops_one_entry,
    companion_invalidate_function_drops_the_function_in_every_tenant,
    cache_evict_key_drops_the_entry_only_after_ok,
    cache_evict_with_a_tenant_argument_drops_that_tenants_entry,
    cache_evict_drops_only_the_entry_of_its_version,
    cache_put_writes_through_and_the_next_read_does_not_run,
    invalidate_key_drops_the_entry_the_companion_names,
    invalidate_function_drops_one_function_in_every_tenant,
    invalidate_tenant_drops_only_that_tenant,
    invalidate_tenant_function_drops_one_function_of_one_tenant,
    invalidate_policy_drops_one_policy_in_every_tenant,
    invalidate_tenant_policy_drops_one_policy_of_one_tenant,
    invalidate_tag_drops_the_tagged_entries_of_one_tenant,
    cache_evict_tags_drops_the_tagged_entries_after_ok_only,
    cache_evict_function_drops_every_tenants_entries_after_ok_only,
    cache_evict_tenant_entries_drops_the_callers_tenant_after_ok_only,
    purge_tenant_drops_only_that_tenant,
    invalidation_also_drops_the_stale_copy,
    an_entry_written_by_cache_put_is_dropped_with_its_function,
);

// The companion -------------------------------------------------------------------------------

async fn companion_has_the_documented_key_and_drops_one_entry(world: &mut World) {
    let cache = world.cache.clone();
    let key = |tenant| within(&cache, tenant, async { quote_cache("7203").key() });
    assert_eq!(
        key(Some("acme")).await,
        Some(world.key("v1:t=acme:quote:7203"))
    );
    assert_eq!(key(None).await, Some(world.key("v1:_:quote:7203")));
    assert_eq!(
        within(&cache, Some("a:b*"), async { news_cache("BRK B").key() }).await,
        Some(world.key("v1:t=a%3Ab%2A:news:BRK%20B"))
    );
    for slot in slots() {
        let key = match slot.func {
            Func::Quote => {
                world
                    .within(slot.tenant, async { quote_cache(slot.ticker).key() })
                    .await
            }
            Func::News => {
                world
                    .within(slot.tenant, async { news_cache(slot.ticker).key() })
                    .await
            }
        };
        assert_eq!(key, Some(world.key(&key_of(slot))), "{slot:?}");
    }
    // Outside any cache scope (and with none installed) there is no key.
    assert_eq!(quote_cache("7203").key(), None);

    world.fill().await;
    let target = Slot {
        func: Func::Quote,
        tenant: Some("acme"),
        ticker: "7203",
    };
    let invalidate = || {
        world.within(Some("acme"), async {
            quote_cache("7203").invalidate().await
        })
    };
    assert!(invalidate().await.unwrap(), "there was an entry to drop");
    assert_eq!(world.peek(target).await, None, "peek after invalidate");
    assert!(
        !invalidate().await.unwrap(),
        "the second time there is none"
    );
    world
        .expect_dropped("quote_cache(\"7203\").invalidate() in acme", |s| {
            *s == target
        })
        .await;
}

async fn companion_invalidate_function_drops_the_function_in_every_tenant(world: &mut World) {
    world.fill().await;
    let deleted = world
        .within(Some("globex"), async {
            news_cache("anything").invalidate_function().await
        })
        .await;
    assert_eq!(deleted.unwrap(), world.scoped(6), "news has six entries");
    world
        .expect_dropped("news_cache(…).invalidate_function()", |s| {
            s.func == Func::News
        })
        .await;
}

// #[cache_evict(key = …)], #[cache_put] ---------------------------------------------------------

/// Stands for a write to the source of truth: `outcome` says whether it succeeded.
#[cache_evict(key = "quote:{ticker}")]
async fn update_quote(ticker: &str, outcome: Result<(), String>) -> Result<(), String> {
    let _ = ticker;
    outcome
}

#[cache_evict(key = "quote:{ticker}", tenant = account)]
async fn update_account_quote(account: &str, ticker: &str) -> Result<(), String> {
    let _ = (account, ticker);
    Ok(())
}

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice, version = 2)]
async fn quote_v2(ticker: &str, runs: &Mutex<u32>) -> Result<u32, String> {
    let _ = ticker;
    let mut runs = runs.lock().unwrap();
    *runs += 1;
    Ok(*runs)
}

#[cache_evict(key = "quote:{ticker}", version = 2)]
async fn update_quote_v2(ticker: &str) -> Result<(), String> {
    let _ = ticker;
    Ok(())
}

/// Write-through: stores what it returns under the key of `quote`. `None` stands for a failed
/// write, which must not be stored.
#[cache_put(function = quote, key = "quote:{ticker}", tags = ["ticker:{ticker}"])]
async fn set_quote(ticker: &str, price: Option<f64>) -> Result<Priced, String> {
    let price = price.ok_or("the source of truth refused the write")?;
    Ok(Priced {
        ticker: ticker.to_owned(),
        tenant: tenant::current().map(|t| t.to_string()),
        run: 0,
        price,
    })
}

const ACME_QUOTE_7203: Slot = Slot {
    func: Func::Quote,
    tenant: Some("acme"),
    ticker: "7203",
};

async fn cache_evict_key_drops_the_entry_only_after_ok(world: &mut World) {
    world.fill().await;
    let failed = world
        .within(Some("acme"), update_quote("7203", Err("refused".into())))
        .await;
    assert_eq!(
        failed,
        Err("refused".to_owned()),
        "the function's result is returned"
    );
    world
        .expect_dropped("update_quote(\"7203\") returning Err", |_| false)
        .await;

    assert_eq!(
        world
            .within(Some("acme"), update_quote("7203", Ok(())))
            .await,
        Ok(())
    );
    world
        .expect_dropped("update_quote(\"7203\") returning Ok in acme", |s| {
            *s == ACME_QUOTE_7203
        })
        .await;
}

async fn cache_evict_with_a_tenant_argument_drops_that_tenants_entry(world: &mut World) {
    world.fill().await;
    // Called outside any tenant scope: the tenant comes from the argument.
    assert_eq!(
        world
            .within(None, update_account_quote("acme", "7203"))
            .await,
        Ok(())
    );
    world
        .expect_dropped("update_account_quote(\"acme\", \"7203\")", |s| {
            *s == ACME_QUOTE_7203
        })
        .await;
}

async fn cache_evict_drops_only_the_entry_of_its_version(world: &mut World) {
    world.fill().await;
    let runs = Mutex::new(0);
    let cache = world.cache.clone();
    let v2 = || within(&cache, Some("acme"), quote_v2("7203", &runs));
    assert_eq!(v2().await, Ok(1));
    assert_eq!(v2().await, Ok(1), "cached");
    let v2_key = world
        .within(Some("acme"), async { quote_v2_cache("7203").key() })
        .await;
    assert_eq!(v2_key, Some(world.key("v1:t=acme:quote:7203#v2")));
    world
        .other_entries
        .push("v1:t=acme:quote:7203#v2".to_owned());

    // The unversioned eviction drops version 0 of the key, not version 2.
    assert_eq!(
        world
            .within(Some("acme"), update_quote("7203", Ok(())))
            .await,
        Ok(())
    );
    world
        .expect_dropped("update_quote(\"7203\") in acme", |s| *s == ACME_QUOTE_7203)
        .await;
    assert_eq!(v2().await, Ok(1), "version 2 is still cached");

    assert_eq!(
        world.within(Some("acme"), update_quote_v2("7203")).await,
        Ok(())
    );
    world.other_entries.clear();
    world
        .expect_dropped("update_quote_v2(\"7203\") in acme", |_| false)
        .await;
    assert_eq!(v2().await, Ok(2), "version 2 runs again");
}

async fn cache_put_writes_through_and_the_next_read_does_not_run(world: &mut World) {
    world.fill().await;
    let put = world
        .within(Some("acme"), set_quote("7203", Some(99.5)))
        .await
        .unwrap();
    assert_eq!((put.run, put.price), (0, 99.5));
    let runs = world.runs.of(ACME_QUOTE_7203);
    assert_eq!(world.peek(ACME_QUOTE_7203).await.as_ref(), Some(&put));
    assert_eq!(
        world.call(ACME_QUOTE_7203).await,
        put,
        "the read returns the put value"
    );
    assert_eq!(
        world.runs.of(ACME_QUOTE_7203),
        runs,
        "without running quote"
    );
    if let Some((backend, connection)) = &mut world.redis {
        let stored = connection.entry(&backend.key("v1:t=acme:quote:7203")).await;
        assert_eq!(
            stored,
            Some(json(&put)),
            "the entry in Redis is the put value's JSON"
        );
    }
    world.seen.insert(ACME_QUOTE_7203, put.clone());
    world.expect_dropped("set_quote in acme", |_| false).await;

    // A failed write returns its error and stores nothing.
    let failed = world.within(Some("acme"), set_quote("7203", None)).await;
    assert!(failed.is_err());
    assert_eq!(world.peek(ACME_QUOTE_7203).await, Some(put));
    world
        .expect_dropped("set_quote failing in acme", |_| false)
        .await;
}

/// An entry that `#[cache_put]` wrote is `quote`'s entry (same key, read by `quote`), so it
/// must go when `quote`'s entries are invalidated.
async fn an_entry_written_by_cache_put_is_dropped_with_its_function(world: &mut World) {
    // A key that only the put ever wrote.
    let put = world
        .within(Some("acme"), set_quote("9984", Some(42.0)))
        .await
        .unwrap();
    let read = world.within(Some("acme"), quote("9984", &world.runs)).await;
    assert_eq!(read, Ok(put), "quote reads the put value");
    world.cache.invalidate_function(QUOTE_PATH).await.unwrap();
    let read = world
        .within(Some("acme"), quote("9984", &world.runs))
        .await
        .unwrap();
    assert_eq!(
        read.run, 1,
        "after invalidate_function(quote), quote must run again instead of serving the put value"
    );

    // A key that quote wrote before the put overwrote it. (First drop the 9984 entry that the
    // recomputation above stored, so that only the usual entries are in play.)
    world.cache.invalidate_function(QUOTE_PATH).await.unwrap();
    world.fill().await;
    let put = world
        .within(Some("acme"), set_quote("7203", Some(99.5)))
        .await
        .unwrap();
    world.seen.insert(ACME_QUOTE_7203, put);
    world.cache.invalidate_function(QUOTE_PATH).await.unwrap();
    world
        .expect_dropped("invalidate_function(quote) after set_quote", |s| {
            s.func == Func::Quote
        })
        .await;
}

// Cache::invalidate_* ----------------------------------------------------------------------------

async fn invalidate_key_drops_the_entry_the_companion_names(world: &mut World) {
    world.fill().await;
    let key = world
        .within(Some("globex"), async { news_cache("6758").key() })
        .await
        .unwrap();
    assert_eq!(world.cache.invalidate_key(&key).await.unwrap(), 1);
    world
        .expect_dropped("invalidate_key(globex news 6758)", |s| {
            s.func == Func::News && s.tenant == Some("globex") && s.ticker == "6758"
        })
        .await;
}

async fn invalidate_function_drops_one_function_in_every_tenant(world: &mut World) {
    world.fill().await;
    assert_eq!(
        world.cache.invalidate_function(QUOTE_PATH).await.unwrap(),
        world.scoped(6)
    );
    world
        .expect_dropped("invalidate_function(quote)", |s| s.func == Func::Quote)
        .await;
    // An unknown path deletes nothing.
    let deleted = world
        .cache
        .invalidate_function("invalidation::nothing")
        .await;
    assert_eq!(deleted.unwrap(), 0);
    world
        .expect_dropped("invalidate_function(nothing)", |_| false)
        .await;
}

async fn invalidate_tenant_drops_only_that_tenant(world: &mut World) {
    world.fill().await;
    assert_eq!(
        world.cache.invalidate_tenant(Some("acme")).await.unwrap(),
        world.scoped(4)
    );
    world
        .expect_dropped("invalidate_tenant(acme)", |s| s.tenant == Some("acme"))
        .await;

    // `None` is the calls made outside any tenant, and only those.
    assert_eq!(
        world.cache.invalidate_tenant(None).await.unwrap(),
        world.scoped(4)
    );
    world
        .expect_dropped("invalidate_tenant(None)", |s| s.tenant.is_none())
        .await;
}

async fn invalidate_tenant_function_drops_one_function_of_one_tenant(world: &mut World) {
    world.fill().await;
    let deleted = world
        .cache
        .invalidate_tenant_function(Some("globex"), NEWS_PATH)
        .await;
    assert_eq!(deleted.unwrap(), world.scoped(2));
    world
        .expect_dropped("invalidate_tenant_function(globex, news)", |s| {
            s.func == Func::News && s.tenant == Some("globex")
        })
        .await;
}

async fn invalidate_policy_drops_one_policy_in_every_tenant(world: &mut World) {
    world.fill().await;
    let deleted = world.cache.invalidate_policy(&Policy::NewsData).await;
    assert_eq!(deleted.unwrap(), world.scoped(6));
    world
        .expect_dropped("invalidate_policy(NewsData)", |s| s.func == Func::News)
        .await;
}

async fn invalidate_tenant_policy_drops_one_policy_of_one_tenant(world: &mut World) {
    world.fill().await;
    let deleted = world
        .cache
        .invalidate_tenant_policy(Some("acme"), &Policy::StockPrice)
        .await;
    assert_eq!(deleted.unwrap(), world.scoped(2));
    world
        .expect_dropped("invalidate_tenant_policy(acme, StockPrice)", |s| {
            s.func == Func::Quote && s.tenant == Some("acme")
        })
        .await;
}

async fn invalidate_tag_drops_the_tagged_entries_of_one_tenant(world: &mut World) {
    world.fill().await;
    let tag = Tag::new("ticker").with(&"7203");
    assert_eq!(tag.as_str(), "ticker:7203");
    assert_eq!(
        world
            .cache
            .invalidate_tag(Some("acme"), &tag)
            .await
            .unwrap(),
        world.scoped(2)
    );
    world
        .expect_dropped("invalidate_tag(acme, ticker:7203)", |s| {
            s.tenant == Some("acme") && s.ticker == "7203"
        })
        .await;

    let tag = Tag::new("ticker").with(&"6758");
    assert_eq!(
        world.cache.invalidate_tag(None, &tag).await.unwrap(),
        world.scoped(2)
    );
    world
        .expect_dropped("invalidate_tag(None, ticker:6758)", |s| {
            s.tenant.is_none() && s.ticker == "6758"
        })
        .await;
}

// #[cache_evict(tags / function / tenant_entries)] -------------------------------------------

#[cache_evict(tags = ["ticker:{ticker}"])]
async fn ticker_changed(ticker: &str, outcome: Result<(), String>) -> Result<(), String> {
    let _ = ticker;
    outcome
}

#[cache_evict(function = quote)]
async fn reload_quotes(outcome: Result<(), String>) -> Result<(), String> {
    outcome
}

#[cache_evict(tenant_entries)]
async fn tenant_changed(outcome: Result<(), String>) -> Result<(), String> {
    outcome
}

async fn cache_evict_tags_drops_the_tagged_entries_after_ok_only(world: &mut World) {
    world.fill().await;
    let failed = world
        .within(
            Some("globex"),
            ticker_changed("6758", Err("refused".into())),
        )
        .await;
    assert!(failed.is_err());
    world
        .expect_dropped("ticker_changed returning Err", |_| false)
        .await;

    let evicted = world
        .within(Some("globex"), ticker_changed("6758", Ok(())))
        .await;
    assert_eq!(evicted, Ok(()));
    world
        .expect_dropped("ticker_changed(\"6758\") in globex", |s| {
            s.tenant == Some("globex") && s.ticker == "6758"
        })
        .await;
}

async fn cache_evict_function_drops_every_tenants_entries_after_ok_only(world: &mut World) {
    world.fill().await;
    let failed = world
        .within(Some("acme"), reload_quotes(Err("refused".into())))
        .await;
    assert!(failed.is_err());
    world
        .expect_dropped("reload_quotes returning Err", |_| false)
        .await;

    assert_eq!(
        world.within(Some("acme"), reload_quotes(Ok(()))).await,
        Ok(())
    );
    world
        .expect_dropped("reload_quotes() in acme", |s| s.func == Func::Quote)
        .await;
}

async fn cache_evict_tenant_entries_drops_the_callers_tenant_after_ok_only(world: &mut World) {
    world.fill().await;
    let failed = world
        .within(Some("globex"), tenant_changed(Err("refused".into())))
        .await;
    assert!(failed.is_err());
    world
        .expect_dropped("tenant_changed returning Err", |_| false)
        .await;

    assert_eq!(
        world.within(Some("globex"), tenant_changed(Ok(()))).await,
        Ok(())
    );
    world
        .expect_dropped("tenant_changed() in globex", |s| s.tenant == Some("globex"))
        .await;

    assert_eq!(world.within(None, tenant_changed(Ok(()))).await, Ok(()));
    world
        .expect_dropped("tenant_changed() outside any tenant", |s| {
            s.tenant.is_none()
        })
        .await;
}

// purge_tenant, stale copies -------------------------------------------------------------------

async fn purge_tenant_drops_only_that_tenant(world: &mut World) {
    world.fill().await;
    assert_eq!(world.cache.purge_tenant(Some("acme")).await.unwrap(), 4);
    world
        .expect_dropped("purge_tenant(acme)", |s| s.tenant == Some("acme"))
        .await;
    assert_eq!(world.cache.purge_tenant(None).await.unwrap(), 4);
    world
        .expect_dropped("purge_tenant(None)", |s| s.tenant.is_none())
        .await;
}

#[cached(key = "flaky:{ticker}", ttl = Policy::StockPrice, stale_if_error = "1h")]
async fn flaky(ticker: &str, fail: bool, runs: &Mutex<u32>) -> Result<u32, String> {
    let _ = ticker;
    let mut runs = runs.lock().unwrap();
    *runs += 1;
    if fail {
        Err("the source is down".to_owned())
    } else {
        Ok(*runs)
    }
}

async fn invalidation_also_drops_the_stale_copy(world: &mut World) {
    let runs = Mutex::new(0);
    let cache = world.cache.clone();
    let call = |fail| within(&cache, Some("acme"), flaky("7203", fail, &runs));
    assert_eq!(call(false).await, Ok(1));
    assert_eq!(call(true).await, Ok(1), "a hit: the function does not run");
    let flaky_key = world.key("v1:t=acme:flaky:7203");
    if let Some((backend, _)) = &world.redis {
        assert_eq!(
            backend.keys_with_prefix("v1:t=acme:flaky:").await,
            [flaky_key.clone(), format!("{flaky_key}#stale")]
        );
    }

    // Dropped by key: the function's error reaches the caller, not the stale copy.
    let dropped = world
        .within(Some("acme"), async {
            flaky_cache("7203").invalidate().await
        })
        .await;
    assert!(dropped.unwrap(), "there was an entry to drop");
    if let Some((backend, connection)) = &mut world.redis {
        // A tombstone holds the key; the stale copy is deleted.
        assert_eq!(
            backend.keys_with_prefix("v1:t=acme:flaky:").await,
            std::slice::from_ref(&flaky_key)
        );
        assert_eq!(connection.entry(&flaky_key).await, None);
    }
    assert_eq!(call(true).await, Err("the source is down".to_owned()));

    // Dropped by scope (in Redis, a new generation: the copy stays, stamped with the old one,
    // and is never served again).
    assert_eq!(call(false).await, Ok(3));
    assert_eq!(
        world.cache.invalidate_tenant(Some("acme")).await.unwrap(),
        world.scoped(1)
    );
    assert_eq!(call(true).await, Err("the source is down".to_owned()));
    assert_eq!(
        call(false).await,
        Ok(5),
        "the entry was dropped: the function runs"
    );
}

// Redis only: what invalidation leaves in Redis ---------------------------------------------------

async fn an_evicted_generation_makes_its_entries_misses_never_stale_hits(backend: Backend) {
    let mut world = World::on(backend).await;
    world.fill().await;
    // Redis evicted the tenant's generation under memory pressure (an allkeys-* policy): on a
    // cluster, every shard's copy of it.
    let (backend, connection) = world.redis.as_mut().unwrap();
    let mut deleted = 0;
    for key in backend.keys_with_prefix("v1:gen:t=acme:").await {
        if untagged(&key) == "v1:gen:t=acme:" {
            let one: u64 = redis::cmd("DEL")
                .arg(&key)
                .query_async(connection)
                .await
                .unwrap();
            deleted += one;
        }
    }
    // One server holds one; a cluster one per shard that the tenant's entries fell into.
    assert!(
        deleted == 1 || (backend.is_cluster() && deleted > 1),
        "the tenant has a generation: {deleted} deleted"
    );
    world
        .expect_dropped("the tenant's generation evicted", |s| {
            s.tenant == Some("acme")
        })
        .await;
    // A new generation was drawn, and invalidating the tenant works on it.
    world.cache.invalidate_tenant(Some("acme")).await.unwrap();
    world
        .expect_dropped("invalidate_tenant(acme)", |s| s.tenant == Some("acme"))
        .await;

    assert_eq!(world.cache.purge_tenant(Some("acme")).await.unwrap(), 4);
    let (backend, _) = world.redis.as_ref().unwrap();
    assert_eq!(
        backend.keys_with_prefix("v1:t=acme:").await,
        Vec::<String>::new()
    );
    world
        .expect_dropped("purge_tenant(acme)", |s| s.tenant == Some("acme"))
        .await;
}

async fn purge_tenant_leaves_nothing_of_the_tenant_in_redis(backend: Backend) {
    let mut world = World::on(backend).await;
    world.fill().await;
    world.cache.purge_tenant(Some("acme")).await.unwrap();
    let (backend, _) = world.redis.as_ref().unwrap();
    assert_eq!(
        backend.keys_with_prefix("v1:t=acme:").await,
        Vec::<String>::new()
    );
    // A data deletion request: the bookkeeping named after the tenant (its generations, tag
    // values included) must go too.
    assert_eq!(
        backend.keys_with_prefix("v1:gen:t=acme:").await,
        Vec::<String>::new(),
        "generations of the purged tenant left in Redis"
    );
    let generations = backend.keys_with_prefix("v1:gen:t=globex:").await;
    assert!(!generations.is_empty(), "other tenants keep theirs");
}

// Across processes: the local tier and its invalidation events ------------------------------------

/// Two caches with a local tier on one Redis, as two processes of one service would have.
struct TwoProcesses {
    backend: Backend,
    redis: Raw,
    a: Cache,
    b: Cache,
    runs_a: Runs,
    runs_b: Runs,
}

const EVENT_WAIT: Duration = Duration::from_secs(2);

impl TwoProcesses {
    async fn start(backend: Backend) -> TwoProcesses {
        let build = || backend.build(backend.builder().local_tier(Duration::from_secs(60)));
        let a = build().await;
        let b = build().await;
        assert_eq!(b.stats().backend, "redis+local");
        let redis = backend.connection().await;
        // Both subscribers must listen before the test relies on events (a subscriber that
        // (re)subscribes clears its copies, which would make the control below pass vacuously).
        until_listening(&[&a, &b]).await;
        TwoProcesses {
            backend,
            redis,
            a,
            b,
            runs_a: Runs::default(),
            runs_b: Runs::default(),
        }
    }

    /// A computes acme's quote of 7203, B reads it from Redis (and keeps a local copy); then
    /// the Redis entry is changed behind both caches' backs, and B still serves its copy.
    async fn both_hold_a_local_copy(&mut self) -> Priced {
        let value = within(&self.a, Some("acme"), quote("7203", &self.runs_a))
            .await
            .unwrap();
        assert_eq!(value.run, 1);
        let read = within(&self.b, Some("acme"), quote("7203", &self.runs_b))
            .await
            .unwrap();
        assert_eq!(read, value, "B reads A's entry");
        assert_eq!(self.runs_b.of(ACME_QUOTE_7203), 0, "B did not compute");

        let planted = Priced {
            price: -1.0,
            ..value.clone()
        };
        let _: () = redis::cmd("SET")
            .arg(self.backend.key("v1:t=acme:quote:7203"))
            .arg(serde_json::to_string(&planted).unwrap())
            .arg("KEEPTTL")
            .query_async(&mut self.redis)
            .await
            .unwrap();
        let read = within(&self.b, Some("acme"), quote("7203", &self.runs_b))
            .await
            .unwrap();
        assert_eq!(read, value, "B answers from its local copy, not from Redis");
        value
    }

    /// Polls B (up to [`EVENT_WAIT`]) until it runs the function itself: its copy was dropped.
    async fn b_recomputes(&self, what: &str) {
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            let read = within(&self.b, Some("acme"), quote("7203", &self.runs_b))
                .await
                .unwrap();
            if self.runs_b.of(ACME_QUOTE_7203) == 1 {
                assert_eq!(read.run, 1, "B serves its own run");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} in A: B still serves its local copy after {EVENT_WAIT:?} ({read:?})\n{}",
                self.backend.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn without_an_invalidation_the_other_process_keeps_serving_its_local_copy(backend: Backend) {
    let mut processes = TwoProcesses::start(backend).await;
    let value = processes.both_hold_a_local_copy().await;
    // The control of the tests below: for as long as they poll, B keeps its copy.
    let deadline = Instant::now() + EVENT_WAIT;
    while Instant::now() < deadline {
        let read = within(&processes.b, Some("acme"), quote("7203", &processes.runs_b))
            .await
            .unwrap();
        assert_eq!(read, value, "B serves its local copy");
        assert_eq!(processes.runs_b.of(ACME_QUOTE_7203), 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_companion_invalidation_in_one_process_drops_the_copy_in_the_other(backend: Backend) {
    let mut processes = TwoProcesses::start(backend).await;
    processes.both_hold_a_local_copy().await;
    let dropped = within(&processes.a, Some("acme"), async {
        quote_cache("7203").invalidate().await
    })
    .await;
    assert!(dropped.unwrap(), "there was an entry to drop");
    processes
        .b_recomputes("quote_cache(\"7203\").invalidate()")
        .await;
}

async fn a_cache_evict_in_one_process_drops_the_copy_in_the_other(backend: Backend) {
    let mut processes = TwoProcesses::start(backend).await;
    processes.both_hold_a_local_copy().await;
    let evicted = within(&processes.a, Some("acme"), update_quote("7203", Ok(()))).await;
    assert_eq!(evicted, Ok(()));
    processes.b_recomputes("update_quote(\"7203\")").await;
}

async fn a_purge_in_one_process_drops_the_copy_in_the_other(backend: Backend) {
    let mut processes = TwoProcesses::start(backend).await;
    processes.both_hold_a_local_copy().await;
    assert_eq!(processes.a.purge_tenant(Some("acme")).await.unwrap(), 1);
    processes.b_recomputes("purge_tenant(acme)").await;
}

async fn a_tenant_invalidation_in_one_process_drops_the_copy_in_the_other(backend: Backend) {
    let mut processes = TwoProcesses::start(backend).await;
    processes.both_hold_a_local_copy().await;
    assert_eq!(
        processes.a.invalidate_tenant(Some("acme")).await.unwrap(),
        0
    );
    processes.b_recomputes("invalidate_tenant(acme)").await;
}

async fn a_function_invalidation_in_one_process_drops_the_copy_in_the_other(backend: Backend) {
    let mut processes = TwoProcesses::start(backend).await;
    processes.both_hold_a_local_copy().await;
    assert_eq!(
        processes.a.invalidate_function(QUOTE_PATH).await.unwrap(),
        0
    );
    processes.b_recomputes("invalidate_function(quote)").await;
}

async fn a_tag_invalidation_in_one_process_drops_the_copy_in_the_other(backend: Backend) {
    let mut processes = TwoProcesses::start(backend).await;
    processes.both_hold_a_local_copy().await;
    let tag = Tag::new("ticker").with(&"7203");
    assert_eq!(
        processes
            .a
            .invalidate_tag(Some("acme"), &tag)
            .await
            .unwrap(),
        0
    );
    processes
        .b_recomputes("invalidate_tag(acme, ticker:7203)")
        .await;
}

async fn a_tenant_invalidation_drops_a_copy_the_other_process_computed_itself(backend: Backend) {
    // The index events do reach a copy that B wrote itself (B's own miss): only copies read
    // from Redis are missed (see the ignored tests above).
    let processes = TwoProcesses::start(backend).await;
    let b_value = within(&processes.b, Some("acme"), quote("7203", &processes.runs_b))
        .await
        .unwrap();
    assert_eq!(b_value.run, 1);
    assert_eq!(
        processes.a.invalidate_tenant(Some("acme")).await.unwrap(),
        0
    );
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        within(&processes.b, Some("acme"), quote("7203", &processes.runs_b))
            .await
            .unwrap();
        if processes.runs_b.of(ACME_QUOTE_7203) == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "B still serves its copy");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

backend_tests!(
    an_evicted_generation_makes_its_entries_misses_never_stale_hits,
    purge_tenant_leaves_nothing_of_the_tenant_in_redis,
    without_an_invalidation_the_other_process_keeps_serving_its_local_copy,
    a_companion_invalidation_in_one_process_drops_the_copy_in_the_other,
    a_cache_evict_in_one_process_drops_the_copy_in_the_other,
    a_purge_in_one_process_drops_the_copy_in_the_other,
    a_tenant_invalidation_in_one_process_drops_the_copy_in_the_other,
    a_function_invalidation_in_one_process_drops_the_copy_in_the_other,
    a_tag_invalidation_in_one_process_drops_the_copy_in_the_other,
    a_tenant_invalidation_drops_a_copy_the_other_process_computed_itself,
);

/// Each process's local tier subscribes on the first cluster node it was given. When that node
/// dies, the subscriber moves on to the next one, and invalidations reach it again: B's copy is
/// dropped by A's message, not by B's (re)subscription, since B takes its copy after both
/// processes are subscribed on live nodes again.
#[tokio::test]
async fn on_a_cluster_the_local_tier_subscribes_on_another_node_when_its_node_dies() {
    let mut processes = TwoProcesses::start(Backend::cluster()).await;
    let Backend::Cluster(cluster) = &mut processes.backend else {
        unreachable!("started on a cluster")
    };
    let first: u16 = cluster.urls()[0]
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("a port in the first node's URL");
    let was_master = cluster.masters().contains(&first);
    cluster.kill(first);
    if was_master {
        cluster
            .wait_for_failover(first, Duration::from_secs(30))
            .await;
    }
    // Both subscribers on live nodes again: `PUBSUB NUMSUB` counts the subscribers of one node.
    let channel = "v1:invalidations";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut subscribed = 0;
        for port in cluster.masters().into_iter().chain(cluster.replicas()) {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
            let Ok(mut node) = client.get_multiplexed_async_connection().await else {
                continue;
            };
            let (_, count): (String, u64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(channel)
                .query_async(&mut node)
                .await
                .unwrap_or_else(|e| panic!("PUBSUB NUMSUB on {port}: {e}"));
            subscribed += count;
        }
        if subscribed == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{subscribed} subscriber(s) on live nodes 10 s after node {first} died\n{}",
            cluster.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Caching works again in both processes (the cluster client has the new topology).
    for cache in [&processes.a, &processes.b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cache.health().await.reachable {
            assert!(Instant::now() < deadline, "{:?}", cache.health().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    processes.both_hold_a_local_copy().await;
    assert_eq!(
        processes.a.invalidate_tenant(Some("acme")).await.unwrap(),
        0
    );
    processes
        .b_recomputes("invalidate_tenant(acme) after the subscribed node died")
        .await;
}
