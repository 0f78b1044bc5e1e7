//! Write-through: after `set_rate` the next `rate` returns the new value at once, without a
//! database read; after `delete_rate` it asks the database again. The same scenario runs against
//! the in-process store and against a `redis-server` that the test starts, each with its own
//! cache and database.

use std::time::Duration;

use cache_runtime::{Cache, CacheBuilder};
use cache_tests::RedisServer;
use exchange_rates::{delete_rate, rate, rate_cache, set_rate, Currency, Rate, RateDb, RateError};
use redis::aio::MultiplexedConnection;

use Currency::{Eur, Gbp, Jpy, Usd};

/// What Redis holds at `key`, if the scenario runs against Redis.
async fn stored(redis: &mut Option<MultiplexedConnection>, key: &str) -> Option<Option<String>> {
    let connection = redis.as_mut()?;
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e}"));
    // The value, out of the envelope that carries its generations' stamp.
    let value = value.and_then(|raw| cache_tests::inspect::entry_value(&raw));
    Some(value.map(|value| String::from_utf8(value).expect("JSON is UTF-8")))
}

fn json(rate: &Rate) -> String {
    serde_json::to_string(rate).expect("a rate encodes")
}

async fn read_update_read(cache: &Cache, mut redis: Option<MultiplexedConnection>) {
    let db = RateDb::new(Duration::ZERO);
    db.store(Usd, Jpy, 149.8).await.unwrap();
    let eur_usd = db.store(Eur, Usd, 1.08).await.unwrap();
    cache
        .scope(async {
            assert_eq!(
                rate_cache(Usd, Jpy).key().as_deref(),
                Some("v1:_:rate:USD:JPY")
            );

            // Read: the database once, then the cache.
            let first = rate(&db, Usd, Jpy).await.unwrap();
            assert_eq!((first.value, db.reads()), (149.8, 1));
            assert_eq!(rate(&db, Usd, Jpy).await, Ok(first));
            assert_eq!(db.reads(), 1, "the second read is a hit");
            assert_eq!(rate(&db, Eur, Usd).await, Ok(eur_usd));
            assert_eq!(db.reads(), 2);

            // Update, then read the new value immediately, without a database read.
            let updated = set_rate(&db, Usd, Jpy, 151.2).await.unwrap();
            assert_eq!(updated.value, 151.2);
            assert_eq!(rate(&db, Usd, Jpy).await, Ok(updated));
            assert_eq!(db.reads(), 2, "the put answered the read");
            if let Some(value) = stored(&mut redis, "v1:_:rate:USD:JPY").await {
                assert_eq!(value, Some(json(&updated)), "the entry in Redis is the put");
            }

            // A rejected update returns its error and leaves the cached rate.
            assert!(matches!(
                set_rate(&db, Usd, Jpy, -1.0).await,
                Err(RateError::Invalid(_))
            ));
            assert_eq!(rate(&db, Usd, Jpy).await, Ok(updated));
            assert_eq!(db.reads(), 2);

            // Delete, then read: the database answers that the rate is gone.
            assert_eq!(delete_rate(&db, Usd, Jpy).await, Ok(()));
            if let Some(value) = stored(&mut redis, "v1:_:rate:USD:JPY").await {
                assert_eq!(value, None, "evicted from Redis");
            }
            assert_eq!(
                rate(&db, Usd, Jpy).await,
                Err(RateError::NotFound(Usd, Jpy))
            );
            assert_eq!(db.reads(), 3);

            // `NotFound` was not cached: a rate added later is read at once.
            let added = db.store(Usd, Jpy, 150.0).await.unwrap();
            assert_eq!(rate(&db, Usd, Jpy).await, Ok(added));
            assert_eq!(db.reads(), 4);

            // A failed delete evicts nothing.
            assert_eq!(
                delete_rate(&db, Gbp, Jpy).await,
                Err(RateError::NotFound(Gbp, Jpy))
            );
            assert_eq!(rate(&db, Usd, Jpy).await, Ok(added));
            assert_eq!(rate(&db, Eur, Usd).await, Ok(eur_usd));
            assert_eq!(db.reads(), 4, "both still cached");

            // The control: a write that bypasses the write-through leaves the old rate cached,
            // so the checks above can tell the put and the eviction from no cache at all.
            db.store(Eur, Usd, 1.10).await.unwrap();
            assert_eq!(
                rate(&db, Eur, Usd).await,
                Ok(eur_usd),
                "stale until its TTL"
            );
            assert_eq!(db.reads(), 4);
        })
        .await;
}

#[tokio::test]
async fn in_process_store_reads_the_new_value_right_after_a_write() {
    let cache = CacheBuilder::new().build().await.expect("in-process cache");
    read_update_read(&cache, None).await;
}

#[tokio::test]
async fn redis_reads_the_new_value_right_after_a_write() {
    let server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", server.log()));
    assert_eq!(cache.stats().backend, "redis");
    let connection = server.connection().await;
    read_update_read(&cache, Some(connection)).await;
}
