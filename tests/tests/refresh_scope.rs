//! Early refresh runs the function in a background task; it must still see the caller's tenant
//! (and cache), or it would store another tenant's (or no tenant's) value under this key.

use std::time::Duration;

use cache_runtime::{cached, tenant, CacheBuilder};

#[cached(key = "whoami:{id}", ttl = "400ms", refresh_ahead = 0.5)]
async fn whoami(id: u32) -> Option<String> {
    let _ = id;
    tenant::current().map(|t| t.to_string())
}

#[tokio::test]
async fn a_background_refresh_computes_in_the_callers_tenant() {
    let cache = CacheBuilder::new().build().await.unwrap();
    cache
        .scope(tenant::scope("acme", async {
            assert_eq!(whoami(1).await.as_deref(), Some("acme"));
            // Past half the TTL: a hit that starts a refresh in the background.
            tokio::time::sleep(Duration::from_millis(250)).await;
            assert_eq!(whoami(1).await.as_deref(), Some("acme"));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while cache
                .stats()
                .policies
                .values()
                .map(|p| p.refreshed)
                .sum::<u64>()
                == 0
            {
                assert!(tokio::time::Instant::now() < deadline, "no refresh ran");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Past the original TTL: this hit is the refreshed entry.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(
                whoami(1).await.as_deref(),
                Some("acme"),
                "the refreshed entry was computed outside the caller's tenant"
            );
        }))
        .await;
    let stats = cache.stats();
    let hits: u64 = stats.policies.values().map(|p| p.hits).sum();
    assert_eq!(
        hits, 2,
        "the last call is served by the refreshed entry: {stats:?}"
    );
}
