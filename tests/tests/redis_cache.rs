//! The Redis backend in normal operation: get-or-set, the stored bytes and key layout, TTLs,
//! tenants, which results are cached, and the switches that bypass the cache.
//!
//! Every test runs twice, on its own `redis-server` (`single::…`) and on its own three-master
//! cluster (`cluster::…`), see [`cache_tests::backend`], and builds its own [`Cache`], used
//! through [`Cache::scope`], so tests never see each other's keys or counters. Each cached
//! function belongs to one test, whose two variants take turns, so its execution counter (reset
//! when the test starts) is exact.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use cache_runtime::{cached, tenant, Policy};
use cache_tests::inspect::{json, policy, runs, with_value};
use cache_tests::{backend_tests, Backend};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    ticker: String,
    price: f64,
    /// The tenant the function saw, so a value shows whose call produced it.
    tenant: Option<String>,
}

/// What the uncached function returns for `ticker`, in the current tenant.
fn fresh_quote(ticker: &str) -> Quote {
    Quote {
        ticker: ticker.to_owned(),
        price: 100.0 + ticker.len() as f64 + 0.25,
        tenant: tenant::current().map(|t| t.to_string()),
    }
}

// 1. miss then hit --------------------------------------------------------------------------

static MISS_THEN_HIT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
async fn quote_miss_then_hit(ticker: &str) -> Result<Quote, String> {
    MISS_THEN_HIT_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(fresh_quote(ticker))
}

async fn a_miss_runs_the_function_and_the_next_call_is_a_hit_read_from_redis(backend: Backend) {
    MISS_THEN_HIT_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;
    assert_eq!(cache.stats().backend, "redis");
    let mut redis = backend.connection().await;
    let key = backend.key("v1:_:quote:7203");

    cache
        .scope(async {
            let first = quote_miss_then_hit("7203").await.unwrap();
            assert_eq!(first, fresh_quote("7203"));
            assert_eq!(runs(&MISS_THEN_HIT_RUNS), 1);
            let stats = policy(&cache, "stock_price");
            assert_eq!((stats.hits, stats.misses), (0, 1), "{stats:?}");

            let second = quote_miss_then_hit("7203").await.unwrap();
            assert_eq!(second, first);
            assert_eq!(
                runs(&MISS_THEN_HIT_RUNS),
                1,
                "a hit must not run the function"
            );
            let stats = policy(&cache, "stock_price");
            assert_eq!((stats.hits, stats.misses), (1, 1), "{stats:?}");
            assert_eq!(stats.errors, 0, "{stats:?}");

            // The hit is answered by Redis itself: change the entry behind the cache's back and
            // the next call returns the changed value without running the function.
            let planted = Quote {
                price: -1.0,
                ..first.clone()
            };
            let raw = redis.get(&key).await.unwrap();
            let _: () = redis::cmd("SET")
                .arg(&key)
                .arg(with_value(&raw, &json(&planted)))
                .query_async(&mut redis)
                .await
                .unwrap();
            assert_eq!(quote_miss_then_hit("7203").await.unwrap(), planted);
            assert_eq!(runs(&MISS_THEN_HIT_RUNS), 1);

            // Another argument is another key: a miss.
            assert_eq!(
                quote_miss_then_hit("6758").await.unwrap(),
                fresh_quote("6758")
            );
            assert_eq!(runs(&MISS_THEN_HIT_RUNS), 2);
            let stats = policy(&cache, "stock_price");
            assert_eq!((stats.hits, stats.misses), (2, 2), "{stats:?}");
        })
        .await;
}

// 2. stored bytes and key layout -------------------------------------------------------------

static LAYOUT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
async fn quote_layout(ticker: &str) -> Result<Quote, String> {
    LAYOUT_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(fresh_quote(ticker))
}

async fn the_value_is_plain_json_at_the_documented_key_with_escaped_tenants_and_arguments(
    backend: Backend,
) {
    LAYOUT_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;

    // (tenant, ticker, the key the README documents)
    let cases: [(Option<&str>, &str, &str); 6] = [
        (Some("acme"), "7203", "v1:t=acme:quote:7203"),
        (None, "7203", "v1:_:quote:7203"),
        (Some("a:b"), "7203", "v1:t=a%3Ab:quote:7203"),
        (Some("a:b*"), "7203", "v1:t=a%3Ab%2A:quote:7203"),
        (None, "BRK:B", "v1:_:quote:BRK%3AB"),
        (Some(""), "7203", "v1:t=:quote:7203"),
    ];
    for (tenant_id, ticker, key) in cases {
        let call = cache.scope(quote_layout(ticker));
        let value = match tenant_id {
            Some(id) => tenant::scope(id, call).await,
            None => call.await,
        }
        .unwrap();
        assert_eq!(value.tenant.as_deref(), tenant_id);
        let key = backend.key(key);
        let Some(stored) = redis.entry(&key).await else {
            panic!(
                "no entry at `{key}`; keys: {:?}",
                backend.entry_keys().await
            );
        };
        assert_eq!(
            String::from_utf8_lossy(&stored),
            serde_json::to_string(&value).unwrap(),
            "the entry at `{key}` must be exactly the value's JSON"
        );
    }
    let mut expected: Vec<String> = cases.iter().map(|(_, _, key)| backend.key(key)).collect();
    expected.sort();
    assert_eq!(
        backend.entry_keys().await,
        expected,
        "one entry per call, nothing else besides the index sets"
    );
    assert_eq!(runs(&LAYOUT_RUNS), cases.len());
}

// 3. TTLs ------------------------------------------------------------------------------------

#[cached(key = "ttl:{id}", ttl = Policy::StockPrice)]
async fn ttl_from_policy(id: u32) -> u32 {
    id
}

#[cached(key = "ttl:{id}", ttl = "90s")]
async fn ttl_literal(id: u32) -> u32 {
    id
}

#[cached(key = "ttl:{id}", ttl = Policy::StockPrice)]
async fn ttl_overridden(id: u32) -> u32 {
    id
}

async fn the_entry_expires_after_the_policy_ttl(backend: Backend) {
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    assert_eq!(cache.scope(ttl_from_policy(1)).await, 1);
    let ttl = redis.pttl(&backend.key("v1:_:ttl:~1")).await;
    // Policy::StockPrice is 5 minutes; allow a few seconds for a slow machine.
    assert!(
        (295_000..=300_000).contains(&ttl),
        "PTTL {ttl} ms, expected just under 300000"
    );
}

async fn a_literal_ttl_is_the_entry_expiry(backend: Backend) {
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    assert_eq!(cache.scope(ttl_literal(2)).await, 2);
    let ttl = redis.pttl(&backend.key("v1:_:ttl:~2")).await;
    assert!(
        (85_000..=90_000).contains(&ttl),
        "PTTL {ttl} ms, expected just under 90000"
    );
}

async fn a_builder_ttl_override_replaces_the_policy_ttl(backend: Backend) {
    let cache = backend
        .build(
            backend
                .builder()
                .ttl(&Policy::StockPrice, Duration::from_secs(7)),
        )
        .await;
    let mut redis = backend.connection().await;
    assert_eq!(cache.scope(ttl_overridden(3)).await, 3);
    let ttl = redis.pttl(&backend.key("v1:_:ttl:~3")).await;
    assert!(
        (6_000..=7_000).contains(&ttl),
        "PTTL {ttl} ms, expected just under 7000 (the override), not the policy's 300000"
    );
}

// 4. tenant isolation ------------------------------------------------------------------------

static TENANT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "report:{id}", ttl = Policy::FinancialData)]
async fn tenant_report(id: u32) -> Quote {
    TENANT_RUNS.fetch_add(1, Ordering::SeqCst);
    fresh_quote(&format!("report-{id}"))
}

async fn tenants_sharing_a_key_template_get_their_own_values_and_entries(backend: Backend) {
    TENANT_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    let expected = |tenant_id: Option<&str>| Quote {
        tenant: tenant_id.map(str::to_owned),
        ..fresh_quote("report-1")
    };

    cache
        .scope(async {
            let acme = tenant::scope("acme", tenant_report(1)).await;
            let globex = tenant::scope("globex", tenant_report(1)).await;
            assert_eq!(acme, expected(Some("acme")));
            assert_eq!(globex, expected(Some("globex")));
            assert_eq!(
                runs(&TENANT_RUNS),
                2,
                "the second tenant must not get the first one's entry"
            );

            // Each tenant now hits its own entry.
            assert_eq!(tenant::scope("acme", tenant_report(1)).await, acme);
            assert_eq!(tenant::scope("globex", tenant_report(1)).await, globex);
            assert_eq!(runs(&TENANT_RUNS), 2);

            // Outside any tenant: neither tenant's entry.
            let shared = tenant_report(1).await;
            assert_eq!(shared, expected(None));
            assert_eq!(runs(&TENANT_RUNS), 3);

            let stats = policy(&cache, "financial_data");
            assert_eq!((stats.hits, stats.misses), (2, 3), "{stats:?}");
        })
        .await;

    let mut entries = [
        "v1:_:report:~1",
        "v1:t=acme:report:~1",
        "v1:t=globex:report:~1",
    ]
    .map(|key| backend.key(key));
    entries.sort();
    assert_eq!(backend.entry_keys().await, entries);
    for (key, tenant_id) in [
        ("v1:t=acme:report:~1", Some("acme")),
        ("v1:t=globex:report:~1", Some("globex")),
        ("v1:_:report:~1", None),
    ] {
        assert_eq!(
            redis.entry(&backend.key(key)).await,
            Some(json(&expected(tenant_id))),
            "{key}"
        );
    }
}

// 5. which results are cached ----------------------------------------------------------------

static RESULT_RUNS: AtomicUsize = AtomicUsize::new(0);
static RESULT_FAILS: AtomicBool = AtomicBool::new(true);

#[cached(key = "fallible:{id}", ttl = "1h")]
async fn fallible(id: u32) -> Result<u32, String> {
    RESULT_RUNS.fetch_add(1, Ordering::SeqCst);
    if RESULT_FAILS.load(Ordering::SeqCst) {
        Err(format!("upstream down for {id}"))
    } else {
        Ok(id * 2)
    }
}

async fn a_result_caches_only_ok(backend: Backend) {
    RESULT_RUNS.store(0, Ordering::SeqCst);
    RESULT_FAILS.store(true, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    let key = backend.key("v1:_:fallible:~21");

    cache
        .scope(async {
            assert_eq!(fallible(21).await, Err("upstream down for 21".to_owned()));
            assert_eq!(redis.entry(&key).await, None);
            assert_eq!(backend.entry_keys().await, Vec::<String>::new());
            assert_eq!(fallible(21).await, Err("upstream down for 21".to_owned()));
            assert_eq!(runs(&RESULT_RUNS), 2, "an Err is not cached: run again");

            RESULT_FAILS.store(false, Ordering::SeqCst);
            assert_eq!(fallible(21).await, Ok(42));
            assert_eq!(runs(&RESULT_RUNS), 3);
            assert_eq!(
                redis.entry(&key).await,
                Some(b"42".to_vec()),
                "Ok(T) is stored as T's JSON"
            );
            assert_eq!(fallible(21).await, Ok(42));
            assert_eq!(runs(&RESULT_RUNS), 3, "an Ok is cached");
        })
        .await;
}

static OPTION_RUNS: AtomicUsize = AtomicUsize::new(0);
static OPTION_EMPTY: AtomicBool = AtomicBool::new(true);

#[cached(key = "maybe:{id}", ttl = "1h")]
async fn maybe(id: u32) -> Option<String> {
    OPTION_RUNS.fetch_add(1, Ordering::SeqCst);
    (!OPTION_EMPTY.load(Ordering::SeqCst)).then(|| format!("found {id}"))
}

async fn an_option_caches_only_some(backend: Backend) {
    OPTION_RUNS.store(0, Ordering::SeqCst);
    OPTION_EMPTY.store(true, Ordering::SeqCst);
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;

    cache
        .scope(async {
            assert_eq!(maybe(5).await, None);
            assert_eq!(backend.entry_keys().await, Vec::<String>::new());
            assert_eq!(maybe(5).await, None);
            assert_eq!(runs(&OPTION_RUNS), 2, "a None is not cached: run again");

            OPTION_EMPTY.store(false, Ordering::SeqCst);
            assert_eq!(maybe(5).await.as_deref(), Some("found 5"));
            assert_eq!(
                redis.entry(&backend.key("v1:_:maybe:~5")).await,
                Some(br#""found 5""#.to_vec()),
                "Some(T) is stored as T's JSON"
            );
            assert_eq!(maybe(5).await.as_deref(), Some("found 5"));
            assert_eq!(runs(&OPTION_RUNS), 3, "a Some is cached");
        })
        .await;
}

// 9. disabled --------------------------------------------------------------------------------

static DISABLED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "disabled:{id}", ttl = Policy::MarketData)]
async fn disabled(id: u32) -> u32 {
    DISABLED_RUNS.fetch_add(1, Ordering::SeqCst);
    id + 1
}

async fn a_disabled_cache_runs_every_call_and_writes_nothing(backend: Backend) {
    DISABLED_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.build(backend.builder().enabled(false)).await;
    assert_eq!(cache.stats().backend, "disabled");

    cache
        .scope(async {
            for _ in 0..3 {
                assert_eq!(disabled(9).await, 10);
            }
        })
        .await;
    assert_eq!(runs(&DISABLED_RUNS), 3);
    assert_eq!(backend.keys().await, Vec::<String>::new());
}

// 10. require_tenant -------------------------------------------------------------------------

static SESSION_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "session:{user}", ttl = Policy::UserSession, require_tenant)]
async fn session(user: u32) -> String {
    SESSION_RUNS.fetch_add(1, Ordering::SeqCst);
    format!(
        "user {user} of {}",
        tenant::current().as_deref().unwrap_or("nobody")
    )
}

async fn require_tenant_runs_uncached_outside_a_tenant_and_caches_inside_one(backend: Backend) {
    SESSION_RUNS.store(0, Ordering::SeqCst);
    let cache = backend.cache().await;

    cache
        .scope(async {
            for _ in 0..3 {
                assert_eq!(session(1).await, "user 1 of nobody");
            }
            assert_eq!(runs(&SESSION_RUNS), 3, "outside a tenant every call runs");
            assert_eq!(backend.entry_keys().await, Vec::<String>::new());
            let stats = policy(&cache, "user_session");
            assert_eq!(stats.bypassed, 3, "{stats:?}");
            assert_eq!((stats.hits, stats.misses), (0, 0), "{stats:?}");

            for _ in 0..2 {
                assert_eq!(tenant::scope("acme", session(1)).await, "user 1 of acme");
            }
            assert_eq!(
                runs(&SESSION_RUNS),
                4,
                "inside a tenant the second call hits"
            );
            assert_eq!(
                backend.entry_keys().await,
                [backend.key("v1:t=acme:session:~1")]
            );
            let stats = policy(&cache, "user_session");
            assert_eq!((stats.hits, stats.misses, stats.bypassed), (1, 1, 3));
        })
        .await;
}

backend_tests!(
    a_miss_runs_the_function_and_the_next_call_is_a_hit_read_from_redis,
    the_value_is_plain_json_at_the_documented_key_with_escaped_tenants_and_arguments,
    the_entry_expires_after_the_policy_ttl,
    a_literal_ttl_is_the_entry_expiry,
    a_builder_ttl_override_replaces_the_policy_ttl,
    tenants_sharing_a_key_template_get_their_own_values_and_entries,
    a_result_caches_only_ok,
    an_option_caches_only_some,
    a_disabled_cache_runs_every_call_and_writes_nothing,
    require_tenant_runs_uncached_outside_a_tenant_and_caches_inside_one,
);
