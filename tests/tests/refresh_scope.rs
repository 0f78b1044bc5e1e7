//! Early refresh runs the function in a background task; it must still see the caller's tenant
//! (and cache), or it would store another tenant's (or no tenant's) value under this key.
//!
//! The scenario runs in process (`in_process::…`) and on Redis, a single server and a
//! three-master cluster (`on_redis::{single,cluster}::…`, see [`cache_tests::backend`]), where
//! it also reads the refreshed entry in Redis.

use std::time::Duration;

use cache_runtime::{cached, tenant, Cache, CacheBuilder};
use cache_tests::{backend_tests, Backend};
use tokio::time::{sleep, sleep_until, Instant};

const TTL: Duration = Duration::from_millis(400);

#[cached(key = "whoami:{id}", ttl = "400ms", refresh_ahead = 0.5)]
async fn whoami(id: u32) -> Option<String> {
    let _ = id;
    tenant::current().map(|t| t.to_string())
}

/// Background refreshes that ran to completion, over every policy.
fn refreshed(cache: &Cache) -> u64 {
    cache.stats().policies.values().map(|p| p.refreshed).sum()
}

/// `backend`: the Redis the cache is on, to read the refreshed entry there (`None`: in process).
async fn a_background_refresh_computes_in_the_callers_tenant(
    cache: Cache,
    backend: Option<&Backend>,
) {
    cache
        .scope(tenant::scope("acme", async {
            assert_eq!(whoami(1).await.as_deref(), Some("acme"));
            // The entry was written before this instant: the waits below are on its TTL's clock.
            let written = Instant::now();
            // Past half the TTL (and well before its end): a hit that starts a refresh in the
            // background.
            sleep_until(written + TTL * 5 / 8).await;
            assert_eq!(whoami(1).await.as_deref(), Some("acme"));
            let deadline = Instant::now() + Duration::from_secs(2);
            while refreshed(&cache) == 0 {
                assert!(
                    Instant::now() < deadline,
                    "no refresh ran: {:?}",
                    cache.stats()
                );
                sleep(Duration::from_millis(10)).await;
            }
            if let Some(backend) = backend {
                // Redis holds acme's value at acme's key, written by the refresh: it lives longer
                // than the first entry could still live.
                let key = backend.key("v1:t=acme:whoami:~1");
                let mut redis = backend.connection().await;
                let left = TTL.saturating_sub(written.elapsed());
                assert_eq!(
                    redis.entry(&key).await.as_deref(),
                    Some(&br#""acme""#[..]),
                    "{:?}",
                    backend.keys().await
                );
                let pttl = redis.pttl(&key).await;
                assert!(
                    u128::try_from(pttl).unwrap_or(0) > left.as_millis(),
                    "PTTL {pttl} ms: not rewritten by the refresh ({left:?} were left)"
                );
            }
            // Past the first entry's TTL: this hit is the refreshed entry.
            sleep_until(written + TTL + TTL / 8).await;
            assert_eq!(
                whoami(1).await.as_deref(),
                Some("acme"),
                "the refreshed entry was computed outside the caller's tenant"
            );
        }))
        .await;
    let stats = cache.stats();
    let hits: u64 = stats.policies.values().map(|p| p.hits).sum();
    let misses: u64 = stats.policies.values().map(|p| p.misses).sum();
    assert_eq!(
        (hits, misses),
        (2, 1),
        "the last call is served by the refreshed entry: {stats:?}"
    );
}

mod in_process {
    use super::*;

    #[tokio::test]
    async fn a_background_refresh_computes_in_the_callers_tenant() {
        let cache = CacheBuilder::new().build().await.unwrap();
        super::a_background_refresh_computes_in_the_callers_tenant(cache, None).await;
    }
}

mod on_redis {
    use super::*;

    async fn a_background_refresh_computes_in_the_callers_tenant(backend: Backend) {
        let cache = backend.cache().await;
        super::a_background_refresh_computes_in_the_callers_tenant(cache, Some(&backend)).await;
    }

    backend_tests!(a_background_refresh_computes_in_the_callers_tenant);
}
