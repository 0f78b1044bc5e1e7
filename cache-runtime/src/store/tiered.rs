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

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::memory::MemoryStore;
use super::redis::RedisStore;
use super::{Found, Index, Store, StoreError, Write};

pub(crate) struct TieredStore {
    local: Arc<MemoryStore>,
    remote: RedisStore,
    local_ttl: Duration,
    channel: String,
    subscriber: JoinHandle<()>,
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
        let local = Arc::new(local);
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
async fn subscribe(client: redis::Client, channel: String, local: Arc<MemoryStore>) {
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

async fn apply(local: &MemoryStore, payload: &str) {
    let mut lines = payload.split('\n');
    let kind = lines.next();
    let result = match kind {
        Some("k") => local.delete(lines.map(str::to_owned).collect()).await,
        Some("p") => local.delete_prefix(lines.next().unwrap_or_default()).await,
        _ => Ok(0),
    };
    drop(result);
}

impl Store for TieredStore {
    async fn get(&self, key: &str, with_remaining: bool) -> Result<Option<Found>, StoreError> {
        // Early refresh needs the entry's real remaining TTL: ask Redis.
        if !with_remaining {
            if let Ok(Some(found)) = self.local.get(key, false).await {
                return Ok(Some(found));
            }
        }
        let found = self.remote.get(key, true).await?;
        if let Some(Found {
            value,
            remaining: Some(remaining),
            ..
        }) = &found
        {
            let write = Write {
                key: key.to_owned(),
                value: value.clone(),
                ttl: self.local_ttl.min(*remaining),
                typed: None,
            };
            let _ = self.local.set(vec![write], None).await;
        }
        Ok(found)
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
        self.remote.set(writes, index).await?;
        self.local.set(local, local_index).await
    }

    async fn delete(&self, keys: Vec<String>) -> Result<u64, StoreError> {
        let deleted = self.remote.delete(keys.clone()).await?;
        self.local.delete(keys.clone()).await?;
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
        self.local.delete_index(set).await?;
        for keys in members.chunks(EVENT_KEYS) {
            self.local.delete(keys.to_vec()).await?;
            self.publish(Event::Keys(keys)).await?;
        }
        Ok(deleted)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let deleted = self.remote.delete_prefix(prefix).await?;
        self.local.delete_prefix(prefix).await?;
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
