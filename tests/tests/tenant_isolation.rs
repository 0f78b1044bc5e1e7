//! Tenant isolation: nothing one tenant does reaches another tenant's entries, whatever bytes
//! the tenant ids and the key arguments hold.
//!
//! One scenario, [`isolation`], is checked three ways: as a property over arbitrary pairs of
//! tenant ids and key arguments (against the in-process store, and against one Redis shared by
//! the property's cases, each case under its own key prefix), over a fixed list of hostile ids
//! (glob and separator characters, escapes, hash-tag braces, the empty string, a 5 KB id), and
//! for calls made outside any tenant against tenants whose ids look like "no tenant". Every
//! Redis check runs on a single server and on a cluster (`single::…`, `cluster::…`, see
//! [`cache_tests::backend`]).
//!
//! In the scenario tenant B reads two entries; then tenant A reads, writes through, evicts by
//! key, by tag, by function, by policy and by tenant, and purges itself. After each step A's own
//! entries are checked to be affected (so a step that did nothing would be caught) and B's to be
//! untouched: B's function does not run again and B's old values are still served (and, with
//! Redis, still stored byte for byte at B's keys).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use cache_runtime::{cache_evict, cache_put, cached, tenant, Cache, CacheBuilder, Policy, Tag};
use cache_tests::{backend_tests, Backend, Raw};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    /// The tenant whose call computed (or put) the value.
    tenant: Option<String>,
    ticker: String,
    /// The how-manieth run of the function for this tenant and ticker; 0 for a put value.
    run: u32,
}

/// Runs per tenant and ticker. Passed to the function outside its key, so that every scenario
/// counts exactly its own runs while scenarios run in parallel.
#[derive(Default)]
struct Runs(Mutex<HashMap<(Option<String>, String), u32>>);

impl Runs {
    fn record(&self, ticker: &str) -> u32 {
        let tenant = tenant::current().map(|t| t.to_string());
        let mut runs = self.0.lock().unwrap();
        let count = runs.entry((tenant, ticker.to_owned())).or_default();
        *count += 1;
        *count
    }

    fn of(&self, tenant: Option<&str>, ticker: &str) -> u32 {
        let runs = self.0.lock().unwrap();
        let id = (tenant.map(str::to_owned), ticker.to_owned());
        runs.get(&id).copied().unwrap_or(0)
    }
}

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice, tags = ["ticker:{ticker}"])]
async fn quote(ticker: &str, runs: &Runs) -> Result<Quote, String> {
    Ok(Quote {
        tenant: tenant::current().map(|t| t.to_string()),
        ticker: ticker.to_owned(),
        run: runs.record(ticker),
    })
}

const QUOTE_PATH: &str = "tenant_isolation::quote";

#[cache_put(function = quote, key = "quote:{ticker}", tags = ["ticker:{ticker}"])]
async fn set_quote(ticker: &str) -> Result<Quote, String> {
    Ok(Quote {
        tenant: tenant::current().map(|t| t.to_string()),
        ticker: ticker.to_owned(),
        run: 0,
    })
}

#[cache_evict(key = "quote:{ticker}")]
async fn update_quote(ticker: &str) -> Result<(), String> {
    let _ = ticker;
    Ok(())
}

#[cache_evict(tags = ["ticker:{ticker}"])]
async fn ticker_changed(ticker: &str) -> Result<(), String> {
    let _ = ticker;
    Ok(())
}

#[cache_evict(tenant_entries)]
async fn tenant_changed() -> Result<(), String> {
    Ok(())
}

/// Runs `future` with `cache` and, if any, `tenant` in scope.
async fn within<F: Future>(cache: &Cache, tenant: Option<&str>, future: F) -> F::Output {
    match tenant {
        Some(id) => cache.scope(tenant::scope(id, future)).await,
        None => cache.scope(future).await,
    }
}

/// A value for messages: long ids are cut, so a failure stays readable.
fn show(value: impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}… ({} chars)", &text[..end], text.chars().count()),
        None => text,
    }
}

macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

/// One tenant's view of the cache in one scenario.
struct Side<'a> {
    cache: &'a Cache,
    tenant: Option<&'a str>,
    runs: &'a Runs,
}

impl Side<'_> {
    async fn read(&self, ticker: &str) -> Result<Quote, String> {
        within(self.cache, self.tenant, quote(ticker, self.runs)).await
    }

    async fn peek(&self, ticker: &str) -> Option<Quote> {
        within(self.cache, self.tenant, async {
            quote_cache(ticker).peek().await
        })
        .await
        .and_then(Result::ok)
    }

    async fn key(&self, ticker: &str) -> Option<String> {
        within(self.cache, self.tenant, async { quote_cache(ticker).key() }).await
    }

    /// Makes sure A holds an entry for `ticker` (computing it if needed) before a step drops it.
    async fn hold(&self, ticker: &str) -> Result<(), String> {
        let value = self.read(ticker).await?;
        ensure!(
            self.peek(ticker).await == Some(value),
            "A's entry for {} is cached",
            show(ticker)
        );
        Ok(())
    }

    /// After `step`, A no longer holds an entry for any of `tickers`.
    async fn dropped(&self, step: &str, tickers: &[&str]) -> Result<(), String> {
        for ticker in tickers {
            ensure!(
                self.peek(ticker).await.is_none(),
                "{step} did not drop A's own entry for {}",
                show(ticker)
            );
        }
        Ok(())
    }
}

/// B's entries, as first read, and (with Redis) as first stored.
struct Watched {
    values: Vec<(String, Quote)>,
    stored: Vec<(String, Vec<u8>)>,
}

impl Watched {
    /// After A's `step`, B's entries are untouched: served without running B's function, with
    /// the old values, and still stored byte for byte at B's keys.
    async fn unchanged(
        &self,
        b: &Side<'_>,
        redis: &mut Option<&mut Raw>,
        step: &str,
    ) -> Result<(), String> {
        for (ticker, value) in &self.values {
            ensure!(
                b.peek(ticker).await.as_ref() == Some(value),
                "after A's {step}: B's entry for {} is gone or changed",
                show(ticker)
            );
            let read = b.read(ticker).await?;
            ensure!(
                b.runs.of(b.tenant, ticker) == 1 && &read == value,
                "after A's {step}: B's read of {} ran the function again or got {} instead of {}",
                show(ticker),
                show(&read),
                show(value)
            );
        }
        if let Some(connection) = redis.as_deref_mut() {
            for (key, bytes) in &self.stored {
                let now: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(key)
                    .query_async(connection)
                    .await
                    .map_err(|e| format!("GET: {e}"))?;
                ensure!(
                    now.as_ref() == Some(bytes),
                    "after A's {step}: B's entry at {} changed in Redis",
                    show(key)
                );
            }
        }
        Ok(())
    }
}

/// Tenant `a` does everything a tenant can do to its own entries for tickers `x` and `y`;
/// tenant `b` (distinct from `a`) must not notice. `Err` names the step that reached B.
async fn isolation(
    cache: &Cache,
    mut redis: Option<&mut Raw>,
    a: Option<&str>,
    b: Option<&str>,
    x: &str,
    y: &str,
) -> Result<(), String> {
    assert_ne!(a, b, "the scenario needs two distinct tenants");
    let runs = Runs::default();
    let a = Side {
        cache,
        tenant: a,
        runs: &runs,
    };
    let b = Side {
        cache,
        tenant: b,
        runs: &runs,
    };
    let mut tickers = vec![x];
    if y != x {
        tickers.push(y);
    }

    // B reads both tickers.
    let mut watched = Watched {
        values: Vec::new(),
        stored: Vec::new(),
    };
    for ticker in &tickers {
        let value = b.read(ticker).await?;
        ensure!(
            runs.of(b.tenant, ticker) == 1 && value.tenant.as_deref() == b.tenant,
            "B's first read of {} must run B's function",
            show(ticker)
        );
        watched.values.push((ticker.to_string(), value));
        let (Some(a_key), Some(b_key)) = (a.key(ticker).await, b.key(ticker).await) else {
            return Err("no key inside a cache scope".to_owned());
        };
        ensure!(
            a_key != b_key,
            "A and B share the key {} for {}",
            show(&a_key),
            show(ticker)
        );
        if let Some(connection) = redis.as_deref_mut() {
            let bytes: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&b_key)
                .query_async(connection)
                .await
                .map_err(|e| format!("GET: {e}"))?;
            let Some(bytes) = bytes else {
                return Err(format!("B's entry is not at its key {}", show(&b_key)));
            };
            watched.stored.push((b_key, bytes));
        }
    }
    watched.unchanged(&b, &mut redis, "nothing yet").await?;

    // A reads: it computes its own entries and is never served B's.
    for ticker in &tickers {
        let value = a.read(ticker).await?;
        ensure!(
            runs.of(a.tenant, ticker) == 1 && value.tenant.as_deref() == a.tenant,
            "A's first read of {} was served {} (B's entry?)",
            show(ticker),
            show(&value)
        );
    }
    watched.unchanged(&b, &mut redis, "reads").await?;

    // A writes through.
    let put = within(cache, a.tenant, set_quote(x)).await?;
    ensure!(
        a.read(x).await? == put && runs.of(a.tenant, x) == 1,
        "A's #[cache_put] is not what A reads next"
    );
    watched.unchanged(&b, &mut redis, "#[cache_put]").await?;

    // A evicts by key.
    within(cache, a.tenant, update_quote(x)).await?;
    a.dropped("#[cache_evict(key)]", &[x]).await?;
    watched
        .unchanged(&b, &mut redis, "#[cache_evict(key)]")
        .await?;

    // A invalidates through the companion.
    a.hold(x).await?;
    let dropped = within(cache, a.tenant, async { quote_cache(x).invalidate().await }).await;
    ensure!(
        dropped.as_ref().is_ok_and(|d| *d),
        "A's companion invalidate: {dropped:?}"
    );
    a.dropped("companion invalidate", &[x]).await?;
    watched
        .unchanged(&b, &mut redis, "companion invalidate")
        .await?;

    // A scope invalidation deletes its entries in-process; in Redis it draws a new generation
    // and deletes none.
    let on_redis = redis.is_some();
    let scoped = move |n: u64| if on_redis { 0 } else { n };
    let all = tickers.len() as u64;

    // A invalidates by tag, through the cache and through #[cache_evict(tags)].
    a.hold(x).await?;
    let tag = Tag::new("ticker").with(x);
    let deleted = cache.invalidate_tag(a.tenant, &tag).await;
    ensure!(
        deleted.as_ref().is_ok_and(|n| *n == scoped(1)),
        "A's invalidate_tag: {deleted:?}"
    );
    a.dropped("invalidate_tag", &[x]).await?;
    watched.unchanged(&b, &mut redis, "invalidate_tag").await?;

    a.hold(x).await?;
    within(cache, a.tenant, ticker_changed(x)).await?;
    a.dropped("#[cache_evict(tags)]", &[x]).await?;
    watched
        .unchanged(&b, &mut redis, "#[cache_evict(tags)]")
        .await?;

    // A invalidates its entries of one function, of one policy, and all of them.
    for ticker in &tickers {
        a.hold(ticker).await?;
    }
    let deleted = cache.invalidate_tenant_function(a.tenant, QUOTE_PATH).await;
    ensure!(
        deleted.as_ref().is_ok_and(|n| *n == scoped(all)),
        "A's invalidate_tenant_function: {deleted:?}"
    );
    a.dropped("invalidate_tenant_function", &tickers).await?;
    watched
        .unchanged(&b, &mut redis, "invalidate_tenant_function")
        .await?;

    for ticker in &tickers {
        a.hold(ticker).await?;
    }
    let deleted = cache
        .invalidate_tenant_policy(a.tenant, &Policy::StockPrice)
        .await;
    ensure!(
        deleted.as_ref().is_ok_and(|n| *n == scoped(all)),
        "A's invalidate_tenant_policy: {deleted:?}"
    );
    a.dropped("invalidate_tenant_policy", &tickers).await?;
    watched
        .unchanged(&b, &mut redis, "invalidate_tenant_policy")
        .await?;

    for ticker in &tickers {
        a.hold(ticker).await?;
    }
    within(cache, a.tenant, tenant_changed()).await?;
    a.dropped("#[cache_evict(tenant_entries)]", &tickers)
        .await?;
    watched
        .unchanged(&b, &mut redis, "#[cache_evict(tenant_entries)]")
        .await?;

    for ticker in &tickers {
        a.hold(ticker).await?;
    }
    let deleted = cache.invalidate_tenant(a.tenant).await;
    ensure!(
        deleted.as_ref().is_ok_and(|n| *n == scoped(all)),
        "A's invalidate_tenant: {deleted:?}"
    );
    a.dropped("invalidate_tenant", &tickers).await?;
    watched
        .unchanged(&b, &mut redis, "invalidate_tenant")
        .await?;

    // A purges itself: a keyspace scan with A's prefix as the pattern.
    for ticker in &tickers {
        a.hold(ticker).await?;
    }
    let deleted = cache.purge_tenant(a.tenant).await;
    ensure!(
        deleted.as_ref().is_ok_and(|n| *n == tickers.len() as u64),
        "A's purge_tenant deleted {deleted:?}, A holds {} entries",
        tickers.len()
    );
    a.dropped("purge_tenant", &tickers).await?;
    watched.unchanged(&b, &mut redis, "purge_tenant").await?;
    Ok(())
}

/// Runs the scenario against a fresh in-process cache.
async fn isolation_in_process(
    a: Option<&str>,
    b: Option<&str>,
    x: &str,
    y: &str,
) -> Result<(), String> {
    let cache = CacheBuilder::new()
        .build()
        .await
        .map_err(|e| e.to_string())?;
    isolation(&cache, None, a, b, x, y).await
}

/// Runs the scenario against `backend`, under a key prefix no other scenario uses.
async fn isolation_on_redis(
    backend: &Backend,
    connection: &mut Raw,
    a: Option<&str>,
    b: Option<&str>,
    x: &str,
    y: &str,
) -> Result<(), String> {
    static CASES: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("case{}", CASES.fetch_add(1, Ordering::Relaxed));
    let cache = backend
        .builder()
        .prefix(&prefix)
        .build()
        .await
        .map_err(|e| e.to_string())?;
    isolation(&cache, Some(connection), a, b, x, y)
        .await
        .map_err(|e| format!("{e} (prefix {prefix})"))
}

// The property -------------------------------------------------------------------------------

/// Ids that are syntax somewhere: globs, key and index separators, escapes, the no-tenant
/// segment, the tenant marker, the escape character itself, non-ASCII.
const HOSTILE: &[&str] = &[
    "*", "a*", "?", "[ab]", "[", "]", "\\", ":", "a:b", "", "_", "t=x", "t=", "%2A", "%", "{x}",
    "{", "}", " ", "\n", "日本", "#v2", "idx", "all", "~",
];

/// Hostile pieces, alone or several in a row.
fn hostile_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(HOSTILE), 1..5)
        .prop_map(|pieces| pieces.concat())
}

/// An id or a key argument: arbitrary text, hostile pieces, or kilobytes of text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => ".*",
        4 => hostile_text(),
        1 => "\\PC{2000,4000}",
    ]
}

/// A tenant, or (sometimes) no tenant at all.
fn tenant_id() -> impl Strategy<Value = Option<String>> {
    prop_oneof![9 => text().prop_map(Some), 1 => Just(None)]
}

/// Two distinct tenants: unrelated, or one extending the other by a separator or a glob
/// character and more (`a` and `a:b`, `a` and `a*`), where a missing escape would let one
/// tenant's key prefix or pattern reach the other's keys.
fn tenant_pair() -> impl Strategy<Value = (Option<String>, Option<String>)> {
    let joint = proptest::sample::select(&[":", "*", "?", "[", "\\", "%", "_", "="][..]);
    let extended = (text(), joint, text(), any::<bool>()).prop_map(|(id, joint, rest, swap)| {
        let longer = format!("{id}{joint}{rest}");
        if swap {
            (Some(longer), Some(id))
        } else {
            (Some(id), Some(longer))
        }
    });
    prop_oneof![1 => (tenant_id(), tenant_id()), 2 => extended]
        .prop_filter("two distinct tenants", |(a, b)| a != b)
}

/// Two distinct tenants and two key arguments (possibly equal).
fn case() -> impl Strategy<Value = (Option<String>, Option<String>, String, String)> {
    (tenant_pair(), text(), text()).prop_map(|((a, b), x, y)| (a, b, x, y))
}

/// The property's failure with the (minimal) case it found, long ids cut.
fn failed(failure: TestError<(Option<String>, Option<String>, String, String)>) -> String {
    match failure {
        TestError::Fail(reason, (a, b, x, y)) => format!(
            "{reason}\nminimal case: A {} B {} x {} y {}",
            show(a),
            show(b),
            show(x),
            show(y)
        ),
        TestError::Abort(reason) => format!("aborted: {reason}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // The runner is not the `proptest!` macro: no source file to keep regressions beside.
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    }
}

#[test]
fn no_tenant_reaches_another_in_the_in_process_store() {
    let runtime = runtime();
    let mut runner = TestRunner::new(config(64));
    let outcome = runner.run(&case(), |(a, b, x, y)| {
        runtime
            .block_on(isolation_in_process(a.as_deref(), b.as_deref(), &x, &y))
            .map_err(TestCaseError::fail)
    });
    if let Err(failure) = outcome {
        panic!("{}", failed(failure));
    }
}

async fn no_tenant_reaches_another_in_redis(backend: Backend) {
    let connection = backend.connection().await;
    let runtime = tokio::runtime::Handle::current();
    // The runner calls the property synchronously: it runs on a blocking thread and waits for
    // each case on this (multi-thread) runtime.
    tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(config(24));
        let outcome = runner.run(&case(), |(a, b, x, y)| {
            // A clone shares the connection.
            let mut connection = connection.clone();
            runtime
                .block_on(isolation_on_redis(
                    &backend,
                    &mut connection,
                    a.as_deref(),
                    b.as_deref(),
                    &x,
                    &y,
                ))
                .map_err(TestCaseError::fail)
        });
        if let Err(failure) = outcome {
            panic!("{}\n{}", failed(failure), backend.log());
        }
    })
    .await
    .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked.into_panic()));
}

// Fixed hostile ids ----------------------------------------------------------------------------

/// Tenants a hostile id is tried against, in both roles.
const NEIGHBOURS: &[Option<&str>] = &[
    Some("acme"),
    Some("a"),
    Some("ab"),
    Some("_"),
    Some(""),
    Some("t=x"),
    Some("x"),
    None,
];

/// `id` as tenant A against every neighbour as B and the other way round, and as a key
/// argument, in process and on `backend`. Every message names the case.
async fn hostile(backend: &Backend, case: &str, id: &str) {
    let mut connection = backend.connection().await;
    for &neighbour in NEIGHBOURS.iter().filter(|n| **n != Some(id)) {
        for (a, b) in [(Some(id), neighbour), (neighbour, Some(id))] {
            let (x, y) = ("7203", id);
            if let Err(error) = isolation_in_process(a, b, x, y).await {
                panic!(
                    "hostile case {case}: A {} B {}, in-process store: {error}",
                    show(a),
                    show(b)
                );
            }
            if let Err(error) = isolation_on_redis(backend, &mut connection, a, b, x, y).await {
                panic!(
                    "hostile case {case}: A {} B {}, Redis ({}): {error}\n{}",
                    show(a),
                    show(b),
                    backend.name(),
                    backend.log()
                );
            }
        }
    }
}

/// One test per hostile id, `hostile::{single,cluster}::<name>`.
macro_rules! hostile_cases {
    ($($name:ident => $id:expr,)*) => {
        mod hostile {
            use super::*;
            $(
                async fn $name(backend: Backend) {
                    let id: String = $id.into();
                    super::hostile(&backend, stringify!($name), &id).await;
                }
            )*
            backend_tests!($($name),*);
        }
    };
}

hostile_cases! {
    hostile_star => "*",
    hostile_prefix_star => "a*",
    hostile_question_mark => "?",
    hostile_bracket_class => "[ab]",
    hostile_backslash => "\\",
    hostile_colon => ":",
    hostile_separator_inside => "a:b",
    hostile_empty => "",
    hostile_no_tenant_marker => "_",
    hostile_tenant_marker => "t=x",
    hostile_escaped_star => "%2A",
    hostile_braces => "{x}",
    hostile_space => " ",
    hostile_newline => "\n",
    hostile_non_ascii => "日本",
    hostile_five_kilobytes => "ab*:".repeat(1280),
}

// No tenant ------------------------------------------------------------------------------------

async fn calls_outside_any_tenant_share_nothing_with_any_tenant(backend: Backend) {
    let cache = CacheBuilder::new().build().await.unwrap();
    let runs = Runs::default();
    let key = |tenant| within(&cache, tenant, async { quote_cache("7203").key() });
    assert_eq!(key(None).await.as_deref(), Some("v1:_:quote:7203"));
    assert_eq!(key(Some("_")).await.as_deref(), Some("v1:t=_:quote:7203"));
    assert_eq!(key(Some("")).await.as_deref(), Some("v1:t=:quote:7203"));
    let none = within(&cache, None, quote("7203", &runs)).await.unwrap();
    let underscore = within(&cache, Some("_"), quote("7203", &runs))
        .await
        .unwrap();
    assert_eq!((none.run, underscore.run), (1, 1), "two entries, two runs");

    let mut connection = backend.connection().await;
    for tenant in ["_", "", "t=", "t=_", "*", " ", "acme"] {
        for (a, b) in [(None, Some(tenant)), (Some(tenant), None)] {
            let x = "7203";
            if let Err(error) = isolation_in_process(a, b, x, tenant).await {
                panic!("no tenant vs tenant {tenant:?}, A {a:?} B {b:?}, in-process: {error}");
            }
            if let Err(error) = isolation_on_redis(&backend, &mut connection, a, b, x, tenant).await
            {
                panic!(
                    "no tenant vs tenant {tenant:?}, A {a:?} B {b:?}, Redis ({}): {error}",
                    backend.name()
                );
            }
        }
    }
}

backend_tests!(
    multi_thread:
    no_tenant_reaches_another_in_redis,
    calls_outside_any_tenant_share_nothing_with_any_tenant,
);
