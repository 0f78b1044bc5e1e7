//! Settings from the services' own environment files, against a real server: the fifth seed's
//! per-policy TTLs on a policy enum declared the way users declare one, and the second seed's
//! connection settings, each of which works or is refused at start-up saying what to do instead.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cached, Cache, CacheBuilder, TtlPolicy};
use cache_tests::RedisServer;

/// The crypto service's policies (the fifth seed): defaults deliberately unlike its settings,
/// so that the test sees the overrides.
#[derive(Debug, Clone, Copy, TtlPolicy)]
enum CryptoTtl {
    #[ttl("1m")]
    CoinData,
    #[ttl("1m")]
    Tokenomics,
}

static COIN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "crypto:coin_data:{coin}", ttl = CryptoTtl::CoinData)]
async fn coin_data(coin: &str) -> String {
    COIN_RUNS.fetch_add(1, Ordering::SeqCst);
    format!("{coin}-price")
}

#[cached(key = "crypto:tokenomics:{coin}", ttl = CryptoTtl::Tokenomics)]
async fn tokenomics(coin: &str) -> String {
    format!("{coin}-supply")
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

async fn build(server: &RedisServer, pairs: &[(&str, &str)]) -> Cache {
    let mut all = vars(pairs);
    all.push(("REDIS_URL".to_owned(), server.url()));
    CacheBuilder::from_vars(all)
        .unwrap_or_else(|e| panic!("settings: {e}"))
        .build()
        .await
        .unwrap_or_else(|e| panic!("build: {e}\n{}", server.log()))
}

async fn pttl(server: &RedisServer, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut server.connection().await)
        .await
        .expect("PTTL")
}

#[tokio::test]
async fn the_fifth_seeds_ttl_overrides_reach_redis() {
    assert_eq!(CryptoTtl::CoinData.name(), "coin_data");
    let server = RedisServer::start();
    // The seed's values, in seconds; and the same TTL written with units.
    for (coin_ttl, tokenomics_ttl) in [("300", "600"), ("5m", "10m")] {
        let cache = build(
            &server,
            &[
                ("CACHE_TTL_COIN_DATA", coin_ttl),
                ("CACHE_TTL_TOKENOMICS", tokenomics_ttl),
                ("CACHE_PREFIX", if coin_ttl == "300" { "a" } else { "b" }),
            ],
        )
        .await;
        let runs = COIN_RUNS.load(Ordering::SeqCst);
        assert_eq!(cache.scope(coin_data("bitcoin")).await, "bitcoin-price");
        assert_eq!(cache.scope(coin_data("bitcoin")).await, "bitcoin-price");
        assert_eq!(
            COIN_RUNS.load(Ordering::SeqCst),
            runs + 1,
            "one run, one hit"
        );
        assert_eq!(cache.scope(tokenomics("bitcoin")).await, "bitcoin-supply");

        let coin_key = cache
            .scope(async { coin_data_cache("bitcoin").key() })
            .await
            .expect("key");
        let supply_key = cache
            .scope(async { tokenomics_cache("bitcoin").key() })
            .await
            .expect("key");
        let coin = pttl(&server, &coin_key).await;
        let supply = pttl(&server, &supply_key).await;
        assert!(
            (295_000..=300_000).contains(&coin),
            "{coin_key}: PTTL {coin}"
        );
        assert!(
            (595_000..=600_000).contains(&supply),
            "{supply_key}: PTTL {supply}"
        );
    }
}

#[tokio::test]
async fn the_second_seeds_settings_work_or_are_refused_with_advice() {
    let server = RedisServer::start();
    // What applies: the connect deadline (seconds) and the background health check.
    let cache = build(
        &server,
        &[
            ("REDIS_CONNECTION_TIMEOUT", "5"),
            ("REDIS_HEALTH_CHECK_INTERVAL", "30"),
            ("REDIS_MAX_CONNECTIONS", "1"),
        ],
    )
    .await;
    assert!(cache.health().await.reachable);
    // Pool settings do not apply to one multiplexed connection: refused, each with advice.
    for (name, value) in [
        ("REDIS_MAX_CONNECTIONS", "20"),
        ("REDIS_MIN_IDLE", "5"),
        ("REDIS_MAX_LIFETIME", "300"),
        ("REDIS_IDLE_TIMEOUT", "60"),
    ] {
        let error = CacheBuilder::from_vars(vars(&[
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            (name, value),
        ]))
        .unwrap_err();
        assert_eq!(error.setting(), name);
        assert!(
            error.to_string().contains(&format!("unset {name}")),
            "{error}"
        );
    }
}
