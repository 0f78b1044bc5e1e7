//! `{arg:lower}` / `{arg:upper}` / `{arg:trim}` in key templates: spellings that mean one value
//! are one entry, against a real `redis-server` and in-process.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cached, keyspace, Cache, CacheBuilder, Policy};
use cache_tests::inspect::{get_raw, redis_cache};
use cache_tests::RedisServer;

static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "exchange_rate:{currency:lower}", ttl = Policy::MarketData)]
async fn exchange_rate(currency: &str) -> f64 {
    RATE_RUNS.fetch_add(1, Ordering::SeqCst);
    if currency.eq_ignore_ascii_case("eur") {
        0.34
    } else {
        1.0
    }
}

static TARIFF_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "tariff:{country:upper}:{provider:trim}", ttl = "1h")]
async fn tariff(country: String, provider: &str) -> u32 {
    TARIFF_RUNS.fetch_add(1, Ordering::SeqCst);
    21
}

keyspace!(RATES: f64 = "rate:{currency:lower}", ttl = "5m");

async fn one_entry_per_currency(cache: &Cache) {
    cache
        .scope(async {
            assert_eq!(exchange_rate("EUR").await, 0.34);
            assert_eq!(exchange_rate("eur").await, 0.34);
            assert_eq!(exchange_rate("Eur").await, 0.34);
            assert_eq!(tariff("es".to_owned(), "Iberdrola ").await, 21);
            assert_eq!(tariff("ES".to_owned(), " Iberdrola").await, 21);
            assert!(RATES.set("USD", &1.0).await);
            assert_eq!(RATES.get("usd").await, Some(1.0));
        })
        .await;
    assert_eq!(RATE_RUNS.load(Ordering::SeqCst), 1, "the body runs once");
    assert_eq!(TARIFF_RUNS.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn spellings_share_one_entry_in_redis_and_in_process() {
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    one_entry_per_currency(&cache).await;
    let mut redis = server.connection().await;
    assert!(get_raw(&mut redis, "v1:_:exchange_rate:eur")
        .await
        .is_some());
    assert!(get_raw(&mut redis, "v1:_:tariff:ES:Iberdrola")
        .await
        .is_some());
    assert!(get_raw(&mut redis, "v1:_:rate:usd").await.is_some());
    let key = cache
        .scope(async { exchange_rate_cache("EUR").key() })
        .await;
    assert_eq!(key.as_deref(), Some("v1:_:exchange_rate:eur"));

    RATE_RUNS.store(0, Ordering::SeqCst);
    TARIFF_RUNS.store(0, Ordering::SeqCst);
    let memory = CacheBuilder::new().build().await.expect("build");
    one_entry_per_currency(&memory).await;
}
