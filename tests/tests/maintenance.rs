//! `Cache::ping`, `Cache::keys` and `Cache::flush` against a real `redis-server` and in-process:
//! patterns are data (only `*` is a wildcard), listings stay in this prefix and tenant, and a
//! flush is refused unless enabled, and then deletes only this prefix.

use cache_runtime::{keyspace, tenant, Cache, CacheBuilder};
use cache_tests::RedisServer;
use redis::AsyncCommands;

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

async fn listing(cache: &Cache) {
    let mut all = cache.keys("note:*", 100).await.expect("listing");
    all.sort();
    assert_eq!(
        all,
        [
            "v1:_:note:a%2A",
            "v1:_:note:a%3F",
            "v1:_:note:a1",
            "v1:_:note:a2",
            "v1:_:note:b1"
        ]
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
    assert_eq!(acme, ["v1:t=acme:note:a3"]);
}

#[tokio::test]
async fn listing_and_flush_over_redis() {
    let server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .expect("build");
    assert!(cache.ping().await.is_ok());
    write_notes(&cache).await;
    listing(&cache).await;
    let mut redis = server.connection().await;
    let _: () = redis.set("other-service:key", "kept").await.expect("SET");

    let refused = cache.flush().await.expect_err("flush is off by default");
    assert!(refused.is_flush_not_allowed());
    assert!(
        refused.to_string().contains("CACHE_ALLOW_FLUSH=1"),
        "{refused}"
    );
    assert_eq!(cache.keys("*", 100).await.expect("listing").len(), 5);

    let allowed = CacheBuilder::new()
        .redis_url(server.url())
        .allow_flush(true)
        .build()
        .await
        .expect("build");
    assert_eq!(allowed.flush().await.expect("flush"), 6);
    assert!(cache.keys("*", 100).await.expect("listing").is_empty());
    let kept: Option<String> = redis.get("other-service:key").await.expect("GET");
    assert_eq!(
        kept.as_deref(),
        Some("kept"),
        "another prefix is not touched"
    );

    let mut server = server;
    server.kill();
    assert!(cache.ping().await.expect_err("down").is_unavailable());
}

#[tokio::test]
async fn listing_and_flush_in_process() {
    let cache = CacheBuilder::new().build().await.expect("build");
    write_notes(&cache).await;
    listing(&cache).await;
    assert!(cache.flush().await.expect_err("off").is_flush_not_allowed());
    let vars = [("CACHE_ALLOW_FLUSH".to_owned(), "1".to_owned())];
    let allowed = CacheBuilder::from_vars(vars)
        .expect("valid")
        .build()
        .await
        .expect("build");
    assert!(allowed.flush().await.is_ok());
}
