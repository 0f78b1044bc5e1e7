//! Keys are bounded (issue 9, item 14): a megabyte key argument or tenant id costs Redis (and
//! the in-process store) a few hundred bytes per name, not megabytes in the key and in every
//! index set. Past `CACHE_MAX_KEY_BYTES` a name keeps a readable head and ends in a SHA-256 of
//! the whole name, so distinct arguments still get distinct entries, and invalidation by key,
//! tag, tenant and prefix still finds them.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cached, tenant, CacheBuilder, Tag};
use cache_tests::inspect::{policy, runs};
use cache_tests::RedisServer;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "report:{query}", ttl = "10m", tags = ["q:{query}"], stale_if_error = "1m")]
async fn report(query: &str) -> Result<usize, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(query.len())
}

const LABEL: &str = "key_bounds::report";

#[cached(key = "local:{query}", ttl = "10m")]
async fn local_report(query: &str) -> Result<usize, String> {
    Ok(query.len())
}

async fn every_key(server: &RedisServer) -> Vec<String> {
    let mut redis = server.connection().await;
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await
            .unwrap();
        keys.extend(page);
        cursor = next;
        if cursor == 0 {
            return keys;
        }
    }
}

async fn used_memory(server: &RedisServer) -> u64 {
    let mut redis = server.connection().await;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut redis)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn megabyte_arguments_and_tenant_ids_write_bounded_keys_and_indexes() {
    let server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .unwrap();
    let huge = "ß".repeat(512 * 1024); // 1 MiB of UTF-8, escaped to 3 MiB.
    let mut other = huge.clone();
    other.push('!');
    let tenant_id = format!("acme-{}", "*".repeat(10_000));
    let before = used_memory(&server).await;

    cache
        .scope(tenant::scope(tenant_id.as_str(), async {
            assert_eq!(report(&huge).await, Ok(huge.len()));
            assert_eq!(report(&huge).await, Ok(huge.len()), "a hit");
            assert_eq!(report(&other).await, Ok(other.len()), "another entry");
            assert_eq!(report(&other).await, Ok(other.len()), "a hit");
        }))
        .await;
    assert_eq!(runs(&RUNS), 2, "two entries, each computed once");
    assert_eq!(policy(&cache, LABEL).hits, 2);

    let keys = every_key(&server).await;
    let longest = keys.iter().map(String::len).max().unwrap_or_default();
    assert!(
        longest <= 512 + "#stale".len(),
        "a key of {longest} bytes: {:?}",
        keys.iter()
            .map(|k| &k[..k.len().min(80)])
            .collect::<Vec<_>>()
    );
    let grown = used_memory(&server).await.saturating_sub(before);
    assert!(
        grown < 200_000,
        "Redis grew by {grown} bytes for two entries with megabyte arguments"
    );
    let entry = keys
        .iter()
        .find(|k| k.contains(":report:") && !k.ends_with("#stale"))
        .expect("an entry");
    assert!(
        entry.starts_with("v1:t=acme-%2A%2A"),
        "the head stays readable: {entry}"
    );
    assert!(cache.stats().shortened_keys >= 2, "{:?}", cache.stats());

    // Invalidation finds the entries by their bounded names: by key, by tag, by tenant.
    cache
        .scope(tenant::scope(tenant_id.as_str(), async {
            assert!(report_cache(&huge).invalidate().await.unwrap());
            assert_eq!(report(&huge).await, Ok(huge.len()));
            assert_eq!(runs(&RUNS), 3, "recomputed after the key's invalidation");
            let tag = Tag::new("q").with(other.as_str());
            // Redis draws a new generation: no entry is deleted.
            assert_eq!(
                cache.invalidate_tag(Some(&tenant_id), &tag).await.unwrap(),
                0
            );
            assert_eq!(report(&other).await, Ok(other.len()));
            assert_eq!(runs(&RUNS), 4, "recomputed after the tag's invalidation");
            assert_eq!(cache.invalidate_tenant(Some(&tenant_id)).await.unwrap(), 0);
            // The purge deletes what the invalidations left in Redis: both entries and their
            // stale copies.
            assert_eq!(cache.purge_tenant(Some(&tenant_id)).await.unwrap(), 4);
        }))
        .await;
    let left: Vec<String> = every_key(&server)
        .await
        .into_iter()
        // Stale copies live out their window; the service's generation is every tenant's.
        .filter(|k| !k.ends_with("#stale") && k != "v1:gen")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn in_process_keys_are_bounded_and_tenants_stay_apart() {
    let cache = CacheBuilder::new()
        .max_key_bytes(300)
        .build()
        .await
        .unwrap();
    let huge = "k".repeat(1 << 20);
    // Two tenants whose ids share their first kilobytes: their segments are both shortened.
    let long_a = format!("{}a", "t".repeat(4096));
    let long_b = format!("{}b", "t".repeat(4096));
    cache
        .scope(async {
            for tenant_id in [&long_a, &long_b] {
                let key = tenant::scope(tenant_id.as_str(), async {
                    assert_eq!(local_report(&huge).await, Ok(huge.len()));
                    local_report_cache(&huge).key()
                })
                .await
                .expect("a cache is in scope");
                assert!(key.len() <= 300, "{} bytes: {}", key.len(), &key[..100]);
            }
            let a = tenant::scope(long_a.as_str(), async { local_report_cache(&huge).key() }).await;
            let b = tenant::scope(long_b.as_str(), async { local_report_cache(&huge).key() }).await;
            assert_ne!(a, b, "tenants whose ids share a long head stay apart");
        })
        .await;
    let stats = policy(&cache, "key_bounds::local_report");
    assert_eq!(stats.misses, 2, "one entry per tenant: {stats:?}");
}

#[tokio::test]
async fn a_bound_below_what_a_key_head_needs_is_a_start_up_error() {
    let error = CacheBuilder::from_vars([("CACHE_MAX_KEY_BYTES".to_owned(), "64".to_owned())])
        .unwrap()
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.setting(), "CACHE_MAX_KEY_BYTES", "{error}");
}
