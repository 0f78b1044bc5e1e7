//! The tiered store: a short-lived in-process copy (L1) in front of Redis (L2), kept honest
//! across processes by invalidation events on Redis pub/sub.
//!
//! - A lookup tries L1, then L2; an L2 hit is copied into L1 for `min(local TTL, the entry's
//!   remaining TTL)`, so L1 never serves an entry past its Redis TTL.
//! - Writes go to L2, then L1.
//! - Invalidations delete from L2 and L1, then publish an event on `{prefix}:invalidations`
//!   naming the deleted keys (or the purged prefix); every process's subscriber applies it to its
//!   own L1. Copies read from Redis carry no index sets, which is why events name keys. A subscriber that lost its connection
//!   clears its whole L1 when it reconnects, since it may have missed events.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::memory::MemoryStore;
use super::redis::RedisStore;
use super::{DecodeTyped, Found, Index, Store, StoreError, Write};

pub(crate) struct TieredStore {
    local: Arc<Local>,
    remote: RedisStore,
    local_ttl: Duration,
    channel: String,
    subscriber: JoinHandle<()>,
}

/// The in-process copies, and how many invalidations have been applied to them.
///
/// A copy is written after its value was read from (or written to) Redis; an invalidation that
/// lands in between would be undone by that write. So every invalidation is counted before it is
/// applied, and a writer that sees the count move while it wrote drops what it wrote.
struct Local {
    copies: MemoryStore,
    invalidations: AtomicU64,
}

impl Local {
    fn generation(&self) -> u64 {
        self.invalidations.load(Ordering::SeqCst)
    }

    async fn invalidate<T>(&self, deletion: impl Future<Output = T>) -> T {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        deletion.await
    }

    fn clear(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.copies.clear();
    }

    /// Writes copies, unless an invalidation was applied since `generation`.
    async fn write(&self, generation: u64, writes: Vec<Write>, index: Option<Index>) {
        let keys: Vec<String> = writes.iter().map(|write| write.key.clone()).collect();
        let _ = self.copies.set(writes, index).await;
        if self.generation() != generation {
            let _ = self.copies.delete(keys).await;
        }
    }
}

/// Keys per invalidation event.
const EVENT_KEYS: usize = 512;

/// An invalidation, as published to other processes.
enum Event<'a> {
    Keys(&'a [String]),
    Prefix(&'a str),
}

impl Event<'_> {
    fn encode(&self) -> String {
        match self {
            Event::Keys(keys) => format!("k\n{}", keys.join("\n")),
            Event::Prefix(prefix) => format!("p\n{prefix}"),
        }
    }
}

impl TieredStore {
    pub(crate) fn new(
        local: MemoryStore,
        remote: RedisStore,
        client: redis::Client,
        local_ttl: Duration,
        prefix: &str,
    ) -> Self {
        let local = Arc::new(Local {
            copies: local,
            invalidations: AtomicU64::new(0),
        });
        let channel = format!("{prefix}:invalidations");
        let subscriber = tokio::spawn(subscribe(client, channel.clone(), Arc::clone(&local)));
        Self {
            local,
            remote,
            local_ttl,
            channel,
            subscriber,
        }
    }

    /// A lookup in the local copies, else in Redis; a Redis hit is copied locally, decoded with
    /// `decode` when given, so that later local hits clone it instead of decoding JSON.
    pub(crate) async fn get_decoded(
        &self,
        key: &str,
        with_remaining: bool,
        decode: Option<DecodeTyped>,
    ) -> Result<Option<Found>, StoreError> {
        // Early refresh needs the entry's real remaining TTL: ask Redis.
        if !with_remaining {
            if let Ok(Some(found)) = self.local.copies.get(key, false).await {
                return Ok(Some(found));
            }
        }
        let generation = self.local.generation();
        let mut found = self.remote.get(key, true).await?;
        if let Some(Found {
            value,
            remaining: Some(remaining),
            typed,
        }) = &mut found
        {
            *typed = decode.and_then(|decode| decode(value));
            let write = Write {
                key: key.to_owned(),
                value: value.clone(),
                ttl: self.local_ttl.min(*remaining),
                typed: typed.clone(),
            };
            self.local.write(generation, vec![write], None).await;
        }
        Ok(found)
    }

    pub(crate) fn remote(&self) -> &RedisStore {
        &self.remote
    }

    async fn publish(&self, event: Event<'_>) -> Result<(), StoreError> {
        self.remote.publish(&self.channel, &event.encode()).await
    }
}

impl Drop for TieredStore {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

/// Applies other processes' invalidations to `local` until the store is dropped.
async fn subscribe(client: redis::Client, channel: String, local: Arc<Local>) {
    let mut pause = Duration::from_millis(100);
    loop {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            if pubsub.subscribe(&channel).await.is_ok() {
                // Events may have been missed while disconnected: nothing local is trusted.
                local.clear();
                pause = Duration::from_millis(100);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if let Ok(payload) = message.get_payload::<String>() {
                        apply(&local, &payload).await;
                    }
                }
            }
        }
        local.clear();
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn apply(local: &Local, payload: &str) {
    let mut lines = payload.split('\n');
    let kind = lines.next();
    let copies = &local.copies;
    let result = match kind {
        Some("k") => {
            let keys = lines.map(str::to_owned).collect();
            local.invalidate(copies.delete(keys)).await
        }
        Some("p") => {
            let prefix = lines.next().unwrap_or_default();
            local.invalidate(copies.delete_prefix(prefix)).await
        }
        _ => Ok(0),
    };
    drop(result);
}

impl Store for TieredStore {
    async fn get(&self, key: &str, with_remaining: bool) -> Result<Option<Found>, StoreError> {
        self.get_decoded(key, with_remaining, None).await
    }

    async fn set(&self, writes: Vec<Write>, index: Option<Index>) -> Result<(), StoreError> {
        let local: Vec<Write> = writes
            .iter()
            .map(|write| Write {
                key: write.key.clone(),
                value: write.value.clone(),
                ttl: self.local_ttl.min(write.ttl),
                typed: write.typed.clone(),
            })
            .collect();
        let local_index = index.as_ref().map(|index| Index {
            member: index.member.clone(),
            sets: index.sets.clone(),
            ttl: index.ttl,
        });
        let generation = self.local.generation();
        self.remote.set(writes, index).await?;
        self.local.write(generation, local, local_index).await;
        Ok(())
    }

    async fn delete(&self, keys: Vec<String>) -> Result<u64, StoreError> {
        let deleted = self.remote.delete(keys.clone()).await?;
        self.local
            .invalidate(self.local.copies.delete(keys.clone()))
            .await?;
        self.publish(Event::Keys(&keys)).await?;
        Ok(deleted)
    }

    async fn delete_index(&self, set: &str) -> Result<u64, StoreError> {
        // Other processes' copies may have come from Redis without their index sets, so they
        // are dropped by key: the members this deletion found.
        let mut members = Vec::new();
        let deleted = self
            .remote
            .delete_index_members(set, |page| members.extend_from_slice(page))
            .await?;
        let copies = &self.local.copies;
        self.local.invalidate(copies.delete_index(set)).await?;
        for keys in members.chunks(EVENT_KEYS) {
            self.local.invalidate(copies.delete(keys.to_vec())).await?;
            self.publish(Event::Keys(keys)).await?;
        }
        Ok(deleted)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let deleted = self.remote.delete_prefix(prefix).await?;
        let copies = &self.local.copies;
        self.local.invalidate(copies.delete_prefix(prefix)).await?;
        self.publish(Event::Prefix(prefix)).await?;
        Ok(deleted)
    }

    async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.remote.try_lock(key, token, ttl).await
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<(), StoreError> {
        self.remote.unlock(key, token).await
    }
}
