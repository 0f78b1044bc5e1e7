//! The in-process store keeps a `Clone` result decoded: a hit clones it instead of decoding JSON.
//! A type that is not `Clone` is decoded on every hit, as from Redis.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cached, CacheBuilder};
use cache_tests::{backend_tests, Backend};
use serde::{Deserialize, Deserializer, Serialize};

static CLONE_DECODES: AtomicUsize = AtomicUsize::new(0);
static PLAIN_DECODES: AtomicUsize = AtomicUsize::new(0);

/// Counts how often it is decoded from JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Cloneable(u32);

impl<'de> Deserialize<'de> for Cloneable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CLONE_DECODES.fetch_add(1, Ordering::SeqCst);
        u32::deserialize(deserializer).map(Cloneable)
    }
}

/// The same, without `Clone`.
#[derive(Debug, PartialEq, Serialize)]
struct NotCloneable(u32);

impl<'de> Deserialize<'de> for NotCloneable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PLAIN_DECODES.fetch_add(1, Ordering::SeqCst);
        u32::deserialize(deserializer).map(NotCloneable)
    }
}

#[cached(key = "cloneable:{id}", ttl = "1m")]
async fn cloneable(id: u32) -> Result<Cloneable, String> {
    Ok(Cloneable(id * 2))
}

#[cached(key = "not_cloneable:{id}", ttl = "1m")]
async fn not_cloneable(id: u32) -> Option<NotCloneable> {
    Some(NotCloneable(id * 3))
}

#[tokio::test]
async fn a_clone_result_is_served_without_decoding_and_others_are_decoded() {
    let cache = CacheBuilder::new().build().await.unwrap();
    cache
        .scope(async {
            for _ in 0..3 {
                assert_eq!(cloneable(7).await, Ok(Cloneable(14)));
                assert_eq!(not_cloneable(7).await, Some(NotCloneable(21)));
            }
        })
        .await;
    let stats = cache.stats();
    assert_eq!(stats.policies.values().map(|p| p.hits).sum::<u64>(), 4);
    assert_eq!(
        CLONE_DECODES.load(Ordering::SeqCst),
        0,
        "hits clone the kept value"
    );
    assert_eq!(PLAIN_DECODES.load(Ordering::SeqCst), 2, "hits decode JSON");
}

static TIER_DECODES: AtomicUsize = AtomicUsize::new(0);

/// Counts how often it is decoded from JSON; its own type, so its counter is this test's alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct TierCounted(u32);

impl<'de> Deserialize<'de> for TierCounted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        TIER_DECODES.fetch_add(1, Ordering::SeqCst);
        u32::deserialize(deserializer).map(TierCounted)
    }
}

#[cached(key = "tier:{id}", ttl = "1m")]
async fn tier(id: u32) -> Result<TierCounted, String> {
    Ok(TierCounted(id + 1))
}

/// A process with a local tier that reads an entry another process wrote decodes it once, when
/// it copies it from Redis; its local hits then clone the kept value.
async fn local_tier_copies_from_redis_are_decoded_once(backend: Backend) {
    TIER_DECODES.store(0, Ordering::SeqCst);
    let writer = backend.cache().await;
    let reader = backend
        .build(
            backend
                .builder()
                .local_tier(std::time::Duration::from_secs(60)),
        )
        .await;
    cache_tests::inspect::until_listening(&[&reader]).await;
    assert_eq!(writer.scope(tier(1)).await, Ok(TierCounted(2)));
    assert_eq!(
        TIER_DECODES.load(Ordering::SeqCst),
        0,
        "the writer computed it"
    );
    for _ in 0..3 {
        assert_eq!(reader.scope(tier(1)).await, Ok(TierCounted(2)));
    }
    let hits: u64 = reader.stats().policies.values().map(|p| p.hits).sum();
    assert_eq!(hits, 3, "{:?}", reader.stats());
    assert_eq!(
        TIER_DECODES.load(Ordering::SeqCst),
        1,
        "decoded once, when copied"
    );
}

backend_tests!(local_tier_copies_from_redis_are_decoded_once);
