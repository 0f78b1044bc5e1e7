//! The in-process store: a `moka` cache bounded by bytes, with a TTL per entry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::sync::Cache;
use moka::Expiry;

use super::{stale_key, Found, Index, Store, StoreError, Typed, Write};

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
    written: Instant,
    /// The index sets this entry belongs to.
    indexes: Arc<[String]>,
    typed: Option<Typed>,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub(crate) struct MemoryStore {
    entries: Cache<String, Entry>,
}

impl MemoryStore {
    /// A store holding at most about `max_bytes` of keys and values.
    pub(crate) fn new(max_bytes: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { entries }
    }
}

impl MemoryStore {
    /// Drops every entry.
    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &str, with_remaining: bool) -> Result<Option<Found>, StoreError> {
        Ok(self.entries.get(key).map(|entry| Found {
            remaining: with_remaining.then(|| entry.ttl.saturating_sub(entry.written.elapsed())),
            value: entry.value,
            typed: entry.typed,
        }))
    }

    async fn set(&self, writes: Vec<Write>, index: Option<Index>) -> Result<(), StoreError> {
        let written = Instant::now();
        let (member, sets) = match index {
            Some(index) => (Some(index.member), Arc::from(index.sets)),
            None => (None, Arc::from(Vec::new())),
        };
        for write in writes {
            let indexes = if member.as_deref() == Some(write.key.as_str()) {
                Arc::clone(&sets)
            } else {
                Arc::from(Vec::new())
            };
            let entry = Entry {
                value: write.value,
                ttl: write.ttl,
                written,
                indexes,
                typed: write.typed,
            };
            self.entries.insert(write.key, entry);
        }
        Ok(())
    }

    async fn delete(&self, keys: Vec<String>) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for key in &keys {
            if self.entries.remove(key.as_str()).is_some() {
                deleted += 1;
            }
            self.entries.invalidate(&stale_key(key));
        }
        Ok(deleted)
    }

    async fn delete_index(&self, set: &str) -> Result<u64, StoreError> {
        let members: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, entry)| entry.indexes.iter().any(|s| s == set))
            .map(|(key, _)| key.as_ref().clone())
            .collect();
        for member in &members {
            self.entries.invalidate(member);
            self.entries.invalidate(&stale_key(member));
        }
        Ok(members.len() as u64)
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let keys: Vec<Arc<String>> = self
            .entries
            .iter()
            .map(|(key, _)| key)
            .filter(|key| key.starts_with(prefix))
            .collect();
        for key in &keys {
            self.entries.invalidate(key.as_str());
        }
        Ok(keys.len() as u64)
    }

    /// One process is the whole world of an in-process store: in-process single flight
    /// already lets one caller per key through, so the lease is always granted.
    async fn try_lock(&self, _: &str, _: &str, _: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn unlock(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
