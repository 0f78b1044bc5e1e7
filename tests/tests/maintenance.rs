//! `Cache::ping`, `Cache::keys` and `Cache::flush` against a real Redis and in-process:
//! patterns are data (only `*` is a wildcard), listings stay in this prefix and tenant, and a
//! flush is refused unless enabled, and then deletes only this prefix.
//!
//! The Redis test runs on a single server (`single::…`) and on a three-master cluster
//! (`cluster::…`, where `keys` and `flush` must `SCAN` every master), see
//! [`cache_tests::backend`]; `ping` after the server is killed runs on a single server only.

use std::collections::BTreeSet;

use cache_runtime::{keyspace, tenant, Cache, CacheBuilder};
use cache_tests::{backend_tests, Backend, RedisServer};

keyspace!(NOTES: String = "note:{id}", ttl = "1h");

async fn write_notes(cache: &Cache) {
    cache
        .scope(async {
            for id in ["a1", "a2", "b1", "a*", "a?"] {
                assert!(NOTES.set(id, &id.to_owned()).await);
            }
            tenant::scope("acme", NOTES.set("a3", &"acme".to_owned())).await;
        })
        .await;
}

/// The names of the keys the notes have in `cache`'s store, sorted: `key` gives the name a key
/// has there (the key itself, or with a cluster's hash tag).
fn names(key: impl Fn(&str) -> String, of: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = of.iter().map(|k| key(k)).collect();
    names.sort();
    names
}

async fn listing(cache: &Cache, key: impl Fn(&str) -> String) {
    let mut all = cache.keys("note:*", 100).await.expect("listing");
    all.sort();
    assert_eq!(
        all,
        names(
            &key,
            &[
                "v1:_:note:a%2A",
                "v1:_:note:a%3F",
                "v1:_:note:a1",
                "v1:_:note:a2",
                "v1:_:note:b1"
            ]
        )
    );
    assert_eq!(
        cache.keys("note:a*", 2).await.expect("listing").len(),
        2,
        "bounded"
    );
    // Glob syntax in the pattern is data: `?` and `[…]` match only themselves.
    assert!(cache
        .keys("note:a?", 100)
        .await
        .expect("listing")
        .is_empty());
    assert!(cache
        .keys("note:[ab]1", 100)
        .await
        .expect("listing")
        .is_empty());
    assert!(cache
        .keys("note:a\\*", 100)
        .await
        .expect("listing")
        .is_empty());
    let acme = tenant::scope("acme", cache.keys("*", 100))
        .await
        .expect("listing");
    assert_eq!(acme, [key("v1:t=acme:note:a3")]);
}

async fn listing_and_flush_over_redis(backend: Backend) {
    let cache = backend.cache().await;
    assert!(cache.ping().await.is_ok());
    write_notes(&cache).await;
    if let Backend::Cluster(cluster) = &backend {
        // The notes are spread over the masters: a listing that asked one would miss some.
        let keys = backend.keys().await;
        let masters: BTreeSet<u16> = keys.iter().map(|k| cluster.master_of_key(k)).collect();
        assert!(masters.len() > 1, "{keys:?} all on {masters:?}");
    }
    listing(&cache, |k| backend.key(k)).await;
    let mut redis = backend.connection().await;
    // Keys of another service, spread over the masters of a cluster.
    let others: Vec<String> = (0..8).map(|n| format!("other-service:key{n}")).collect();
    for other in &others {
        let _: () = redis::cmd("SET")
            .arg(other)
            .arg("kept")
            .query_async(&mut redis)
            .await
            .expect("SET");
    }

    let refused = cache.flush().await.expect_err("flush is off by default");
    assert!(refused.is_flush_not_allowed());
    assert!(
        refused.to_string().contains("CACHE_ALLOW_FLUSH=1"),
        "{refused}"
    );
    assert_eq!(cache.keys("*", 100).await.expect("listing").len(), 5);

    let allowed = backend.build(backend.builder().allow_flush(true)).await;
    assert_eq!(allowed.flush().await.expect("flush"), 6);
    assert!(cache.keys("*", 100).await.expect("listing").is_empty());
    assert!(tenant::scope("acme", cache.keys("*", 100))
        .await
        .expect("listing")
        .is_empty());
    // Nothing of this prefix is left on any master, and another prefix is not touched.
    assert_eq!(backend.keys().await, others, "{}", backend.log());
    for other in &others {
        assert_eq!(redis.get(other).await.as_deref(), Some(&b"kept"[..]));
    }
}

#[tokio::test]
async fn ping_reports_a_killed_server_unavailable() {
    let mut server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .expect("build");
    assert!(cache.ping().await.is_ok());
    server.kill();
    assert!(cache.ping().await.expect_err("down").is_unavailable());
}

#[tokio::test]
async fn listing_and_flush_in_process() {
    let cache = CacheBuilder::new().build().await.expect("build");
    write_notes(&cache).await;
    listing(&cache, str::to_owned).await;
    assert!(cache.flush().await.expect_err("off").is_flush_not_allowed());
    let vars = [("CACHE_ALLOW_FLUSH".to_owned(), "1".to_owned())];
    let allowed = CacheBuilder::from_vars(vars)
        .expect("valid")
        .build()
        .await
        .expect("build");
    assert!(allowed.flush().await.is_ok());
}

backend_tests!(listing_and_flush_over_redis);
