//! The tiered store: a short-lived in-process copy (L1) in front of Redis (L2), kept honest
//! across processes by invalidation events on Redis pub/sub.
//!
//! - A lookup tries L1, then L2; an L2 hit is copied into L1 for `min(local TTL, the entry's
//!   remaining TTL)`, so L1 never serves an entry past its Redis TTL.
//! - Writes go to L2, then L1.
//! - Invalidations delete from L1 first (so that a failure of Redis never leaves this process
//!   serving its own copy), then from L2, then publish an event on the layout's channel naming
//!   the deleted keys (or the purged prefix); every process's subscriber applies it to its own
//!   L1. An invalidation of a whole scope (function, policy, tenant, tag) changes a generation
//!   in Redis, which names no key: it clears every process's L1 (copies live for the local TTL
//!   only, so that costs little). A subscriber
//!   that lost its connection clears its whole L1 when it reconnects, since it may have missed
//!   events.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::runtime::{Handle, TryCurrentError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod direct;

use super::health::{MemoryHealth, StoreHealth};
use super::memory::MemoryStore;
use super::redis::RedisStore;
use super::{
    Basis, Began, Companion, Fetched, Found, Guard, Local, Marks, Read, Store, StoreError,
    StoreFuture, Write,
};
use crate::breaker::BreakerState;
use crate::key::{GenTarget, Generations, Scope};
use crate::metrics::StoreStats;

pub(crate) struct TieredStore {
    local: Arc<Copies>,
    remote: RedisStore,
    local_ttl: Duration,
    channel: String,
    subscriber: JoinHandle<()>,
    /// Whether the subscriber listens (and has cleared what it may have missed).
    listening: watch::Sender<bool>,
}

/// The in-process copies, and how many invalidations have been applied to them.
///
/// A copy is written after its value was read from (or written to) Redis; an invalidation that
/// lands in between would be undone by that write. So every invalidation is counted before it is
/// applied, and a writer that sees the count move while it wrote drops what it wrote.
struct Copies {
    copies: MemoryStore,
    invalidations: AtomicU64,
}

impl Copies {
    fn generation(&self) -> u64 {
        self.invalidations.load(Ordering::SeqCst)
    }

    fn invalidate<T>(&self, deletion: impl FnOnce(&MemoryStore) -> T) -> T {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        deletion(&self.copies)
    }

    fn clear(&self) {
        self.invalidate(MemoryStore::clear);
    }

    /// Writes copies, unless an invalidation was applied since `generation`.
    fn write(&self, generation: u64, writes: Vec<Write>) {
        let keys: Vec<String> = writes.iter().map(|write| write.key.clone()).collect();
        self.copies.write(writes);
        if self.generation() != generation {
            self.copies.remove(&keys, None);
        }
    }
}

/// Keys per invalidation event.
const EVENT_KEYS: usize = 512;

/// An invalidation, as published to other processes.
enum Event<'a> {
    Keys(&'a [String]),
    Prefix(&'a str),
    /// A scope whose members no process can list: every copy goes.
    Everything,
}

impl Event<'_> {
    fn encode(&self) -> String {
        match self {
            Event::Keys(keys) => format!("k\n{}", keys.join("\n")),
            Event::Prefix(prefix) => format!("p\n{prefix}"),
            Event::Everything => "c".to_owned(),
        }
    }
}

impl TieredStore {
    /// Spawns the subscriber on the current tokio runtime (an error outside one); `channel` is
    /// where every process's tier publishes its invalidations, and `clients` where it subscribes
    /// (the server, or nodes of a cluster, tried in turn).
    pub(crate) fn new(
        local: MemoryStore,
        remote: RedisStore,
        clients: Vec<redis::Client>,
        local_ttl: Duration,
        channel: String,
    ) -> Result<Self, TryCurrentError> {
        let runtime = Handle::try_current()?;
        let local = Arc::new(Copies {
            copies: local,
            invalidations: AtomicU64::new(0),
        });
        let (listening, _) = watch::channel(false);
        let subscriber = runtime.spawn(subscribe(
            clients,
            channel.clone(),
            Arc::clone(&local),
            listening.clone(),
        ));
        Ok(Self {
            local,
            remote,
            local_ttl,
            channel,
            subscriber,
            listening,
        })
    }

    /// A lookup in Redis; a hit is copied locally, decoded with `read.decode` when given, so
    /// that later local hits clone it instead of decoding JSON.
    async fn read(&self, key: &str, read: Read<'_>) -> Result<Fetched, StoreError> {
        // Early refresh needs the entry's real remaining TTL: ask Redis.
        if !read.remaining {
            if let Local::Hit(found) = self.local.copies.get_local(key) {
                return Ok(Fetched::hit(found));
            }
        }
        let generation = self.local.generation();
        let mut fetched = self
            .remote
            .get(
                key,
                Read {
                    remaining: true,
                    ..read
                },
            )
            .await?;
        if let Some(Found {
            value,
            remaining: Some(remaining),
            typed,
        }) = &mut fetched.found
        {
            *typed = read
                .decode
                .and_then(|(decode, format)| decode(value, format));
            let write = Write {
                key: key.to_owned(),
                value: value.clone(),
                ttl: self.local_ttl.min(*remaining),
                typed: typed.clone(),
                index: None,
                basis: Basis::default(),
            };
            self.local.write(generation, vec![write]);
        }
        Ok(fetched)
    }

    async fn write(&self, writes: Vec<Write>, announce: bool) -> Result<bool, StoreError> {
        let generation = self.local.generation();
        if !self.remote.write(&writes).await? {
            return Ok(false);
        }
        let keys: Vec<String> = writes.iter().map(|write| write.key.clone()).collect();
        let local = writes
            .into_iter()
            .map(|write| Write {
                ttl: self.local_ttl.min(write.ttl),
                ..write
            })
            .collect();
        self.local.write(generation, local);
        if announce {
            // Other processes may hold a copy of what this write replaced.
            self.publish(Event::Keys(&keys)).await?;
        }
        Ok(true)
    }

    /// Local copies first, always: a remote failure must not leave this process serving them.
    async fn remove(
        &self,
        keys: Vec<String>,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> Result<u64, StoreError> {
        self.local
            .invalidate(|copies| copies.remove(&keys, companion));
        let deleted = self.remote.delete(keys.clone(), companion, marks).await?;
        for keys in keys.chunks(EVENT_KEYS) {
            self.publish(Event::Keys(keys)).await?;
        }
        Ok(deleted)
    }

    async fn remove_scope(&self, scope: &Scope) -> Result<u64, StoreError> {
        self.local.clear();
        let deleted = self.remote.delete_scope(scope, None, None).await?;
        self.publish(Event::Everything).await?;
        Ok(deleted)
    }

    async fn remove_prefix(
        &self,
        prefix: &str,
        generation: Option<&GenTarget>,
        scan: bool,
    ) -> Result<u64, StoreError> {
        self.local.invalidate(|copies| copies.remove_prefix(prefix));
        let deleted = self
            .remote
            .delete_prefix(prefix, generation, scan, None)
            .await?;
        self.publish(Event::Prefix(prefix)).await?;
        Ok(deleted)
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
async fn subscribe(
    clients: Vec<redis::Client>,
    channel: String,
    local: Arc<Copies>,
    listening: watch::Sender<bool>,
) {
    let mut pause = Duration::from_millis(100);
    // On a cluster, the next node is tried after one that failed.
    for client in clients.iter().cycle() {
        if let Ok(mut pubsub) = client.get_async_pubsub().await {
            if pubsub.subscribe(&channel).await.is_ok() {
                // Events may have been missed while disconnected: nothing local is trusted.
                local.clear();
                listening.send_replace(true);
                pause = Duration::from_millis(100);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if let Ok(payload) = message.get_payload::<String>() {
                        apply(&local, &payload);
                    }
                }
            }
        }
        listening.send_replace(false);
        local.clear();
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

fn apply(local: &Copies, payload: &str) {
    let mut lines = payload.split('\n');
    match lines.next() {
        Some("k") => {
            let keys: Vec<String> = lines.map(str::to_owned).collect();
            local.invalidate(|copies| copies.remove(&keys, None));
        }
        Some("p") => {
            let prefix = lines.next().unwrap_or_default();
            local.invalidate(|copies| copies.remove_prefix(prefix));
        }
        Some("c") => local.clear(),
        _ => {}
    }
}

impl Store for TieredStore {
    fn name(&self) -> &'static str {
        "redis+local"
    }

    fn breaker_state(&self) -> BreakerState {
        self.remote.breaker_state()
    }

    fn stats(&self) -> StoreStats {
        let remote = self.remote.server_stats();
        StoreStats {
            redis_version: remote.redis_version,
            refused: remote.refused,
            connection_problem: remote.connection_problem,
            ..self.local.copies.memory_stats()
        }
    }

    fn listening(&self) -> Option<watch::Receiver<bool>> {
        Some(self.listening.subscribe())
    }

    fn begin<'a>(
        &'a self,
        key: &'a str,
        gens: &'a Generations,
        ttl: Duration,
        basis: Basis,
    ) -> StoreFuture<'a, Began> {
        self.remote.begin(key, gens, ttl, basis)
    }

    fn marks_writes(&self) -> bool {
        false
    }

    fn get_local(&self, key: &str) -> Local {
        match self.local.copies.get_local(key) {
            Local::Hit(found) => Local::Hit(found),
            Local::Miss | Local::Ask => Local::Ask,
        }
    }

    fn get<'a>(&'a self, key: &'a str, read: Read<'a>) -> StoreFuture<'a, Fetched> {
        Box::pin(self.read(key, read))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
        gens: &'a [Generations],
    ) -> StoreFuture<'a, Vec<Fetched>> {
        self.remote.get_many(keys, gens)
    }

    fn set_many(
        &self,
        writes: Vec<Write>,
        _guard: Option<Guard>,
        announce: bool,
    ) -> StoreFuture<'_, bool> {
        Box::pin(self.write(writes, announce))
    }

    fn delete(
        &self,
        keys: Vec<String>,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> StoreFuture<'_, u64> {
        Box::pin(self.remove(keys, companion, marks))
    }

    fn delete_scope<'a>(
        &'a self,
        scope: &'a Scope,
        _companion: Option<Companion>,
        _marks: Option<Marks>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(self.remove_scope(scope))
    }

    fn delete_prefix<'a>(
        &'a self,
        prefix: &'a str,
        generation: Option<&'a GenTarget>,
        scan: bool,
        _marks: Option<Marks>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(self.remove_prefix(prefix, generation, scan))
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        self.remote.try_lock(key, token, ttl)
    }

    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> StoreFuture<'a, ()> {
        self.remote.unlock(key, token)
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Store::ping(&self.remote)
    }

    fn health(&self) -> Pin<Box<dyn Future<Output = StoreHealth> + Send + '_>> {
        Box::pin(async move {
            let local = self.local.copies.memory_stats();
            StoreHealth {
                memory: Some(MemoryHealth {
                    entries: local.memory_entries,
                    weighted_size: local.memory_bytes,
                    max_bytes: local.memory_max_bytes,
                }),
                ..self.remote.report().await
            }
        })
    }

    fn direct(&self) -> &dyn crate::store::direct::Direct {
        self
    }
}
