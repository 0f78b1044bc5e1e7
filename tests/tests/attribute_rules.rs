//! Rules of the attribute that no compile test can show, against the in-process store:
//!
//! - A type parameter in the return position is cached as it is, except when it turns out to be
//!   a `Result`: the attribute could not see which part to cache, and an `Err` must never be
//!   served from the cache, so such calls run uncached, counted as `bypassed`.
//! - A result that JSON cannot encode (a map keyed by tuples) is returned, not stored, and
//!   counted as `unencodable`.
//! - `#[cache_put]` and `#[cache_evict]` name the cached function by `function = …` even when
//!   one of their arguments has the same name (`set_rate(…, rate: f64)` for `rate`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cache_evict, cache_put, cached, Cache, CacheBuilder, PolicyStats};
use serde::de::DeserializeOwned;
use serde::Serialize;

async fn memory_cache() -> Cache {
    let cache = CacheBuilder::new()
        .build()
        .await
        .expect("the in-process cache builds");
    assert_eq!(cache.stats().backend, "memory");
    cache
}

fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

fn count(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

/// The counters of a function with a literal TTL, labelled by its path.
fn stats_of(cache: &Cache, function: &str) -> PolicyStats {
    let label = format!("{}::{function}", module_path!());
    cache
        .stats()
        .policies
        .get(&label)
        .cloned()
        .unwrap_or_else(|| panic!("no counters for {label}: {:?}", cache.stats().policies))
}

// --- A type parameter that is a `Result` ----------------------------------------------------

static PASS_THROUGH_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Returns `value`; the key holds `id` only, so a cached value would be returned for any
/// `value`.
#[cached(key = "pass_through:{id}", ttl = "1m")]
async fn pass_through<T>(id: u32, value: T) -> T
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    let _ = id;
    count(&PASS_THROUGH_RUNS);
    value
}

#[tokio::test]
async fn a_type_parameter_that_is_a_result_is_never_cached() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            // The control: a type parameter that is no `Result` is cached as it is.
            assert_eq!(pass_through(1, 10_u32).await, 10);
            assert_eq!(pass_through(1, 11_u32).await, 10, "the cached value");
            assert_eq!(runs(&PASS_THROUGH_RUNS), 1);

            let failed: Result<u32, String> = Err("boom".to_owned());
            assert_eq!(pass_through(2, failed.clone()).await, failed);
            assert_eq!(
                pass_through(2, Ok::<u32, String>(7)).await,
                Ok(7),
                "the Err was not cached"
            );
            assert_eq!(pass_through(2, Ok::<u32, String>(8)).await, Ok(8));
            assert_eq!(runs(&PASS_THROUGH_RUNS), 4, "every Result call ran");
        })
        .await;
    let stats = stats_of(&cache, "pass_through");
    assert_eq!(stats.bypassed, 3, "{stats:?}");
    assert_eq!((stats.hits, stats.misses), (1, 1), "{stats:?}");
}

// --- A result JSON cannot encode -------------------------------------------------------------

static PAIRS_RUNS: AtomicUsize = AtomicUsize::new(0);

/// JSON objects are keyed by strings: a map keyed by tuples does not encode.
#[cached(key = "pairs:{n}", ttl = "1m")]
async fn pairs(n: u32) -> HashMap<(u32, u32), u32> {
    count(&PAIRS_RUNS);
    (0..n).map(|i| ((i, i + 1), i * 10)).collect()
}

#[tokio::test]
async fn a_result_json_cannot_encode_is_returned_and_counted() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            for _ in 0..3 {
                let map = pairs(2).await;
                assert_eq!(map.len(), 2);
                assert_eq!(map[&(1, 2)], 10);
            }
        })
        .await;
    assert_eq!(runs(&PAIRS_RUNS), 3, "never cached");
    let stats = stats_of(&cache, "pairs");
    assert_eq!(stats.unencodable, 3, "{stats:?}");
    assert_eq!(stats.errors, 0, "{stats:?}");
}

// --- An argument named like the cached function ----------------------------------------------

static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "rate:{base}:{quote}", ttl = "1m")]
async fn rate(base: &str, quote: &str) -> Result<f64, String> {
    count(&RATE_RUNS);
    Ok(base.len() as f64 + quote.len() as f64 / 10.0)
}

/// The README's example: the argument `rate` shadows nothing the expansion needs.
#[cache_put(function = rate, key = "rate:{base}:{quote}")]
async fn set_rate(base: &str, quote: &str, rate: f64) -> Result<f64, String> {
    let _ = (base, quote);
    Ok(rate)
}

#[cache_evict(function = rate, key = "rate:{base}:{quote}")]
async fn drop_rate(base: &str, quote: &str, rate: f64) -> Result<f64, String> {
    let _ = (base, quote);
    Ok(rate)
}

#[cache_evict(function = rate)]
async fn drop_rates(rate: u32) -> Result<u32, String> {
    Ok(rate)
}

#[tokio::test]
async fn an_argument_named_like_the_cached_function_does_not_shadow_it() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(set_rate("USD", "JPY", 150.5).await, Ok(150.5));
            assert_eq!(rate("USD", "JPY").await, Ok(150.5), "the put entry");
            assert_eq!(runs(&RATE_RUNS), 0);

            assert_eq!(drop_rate("USD", "JPY", 1.0).await, Ok(1.0));
            assert_eq!(rate("USD", "JPY").await, Ok(3.3), "evicted, computed");
            assert_eq!(runs(&RATE_RUNS), 1);

            assert_eq!(set_rate("EUR", "JPY", 160.0).await, Ok(160.0));
            assert_eq!(drop_rates(7).await, Ok(7));
            assert_eq!(rate("EUR", "JPY").await, Ok(3.3), "every entry evicted");
            assert_eq!(rate("USD", "JPY").await, Ok(3.3));
            assert_eq!(runs(&RATE_RUNS), 3);
        })
        .await;
}
