//! The in-process store: a `moka` cache bounded by bytes, with a TTL per entry, plus what the
//! [`Store`] trait asks of every backend, done for real: index sets kept beside the entries, an
//! ordered key set for prefix deletes, and leases that exclude.
//!
//! The bound counts what an entry really holds ([`weight`]): key, bytes, decoded copy, index
//! memberships and a per-entry overhead. A value that alone would take more than the bound is
//! not kept. The books (key set and index sets, [`books`]) are updated on every write and by
//! `moka`'s eviction listener when an entry leaves (expired, evicted for size, deleted). Each
//! write carries a sequence number, so that the listener of an old entry never removes a newer
//! entry of the same key from the books.

mod books;
mod direct;
mod weight;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use self::books::Books;
use self::weight::weigh;
use super::health::{MemoryHealth, StoreHealth};
use super::{
    Basis, Began, Companion, Fetched, Found, Guard, Local, Marks, Read, Stamp, Store, StoreFuture,
    Typed, Write,
};
use crate::key::{GenTarget, Generations, Scope};
use crate::metrics::StoreStats;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
    written: Instant,
    typed: Option<Typed>,
    sequence: u64,
    /// What the entry weighs against the bound (see [`weight`]).
    weight: u32,
}

struct PerEntryTtl;

impl Expiry<Arc<str>, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &Arc<str>, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &Arc<str>,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub(crate) struct MemoryStore {
    entries: Cache<Arc<str>, Entry>,
    books: Arc<Mutex<Books>>,
    sequence: AtomicU64,
    max_bytes: u64,
    /// Values not kept because they alone weigh more than the bound.
    too_large: AtomicU64,
    /// Lease key -> (token, end of the lease).
    leases: Mutex<HashMap<String, (String, Instant)>>,
    /// Invalidation mark -> (when it was set, when it ends), on `clock`.
    marks: Mutex<HashMap<String, (Stamp, Stamp)>>,
    /// The store's clock: nanoseconds since it was made, plus one (0 is never a stamp).
    clock: Instant,
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryStore {
    /// A store whose entries weigh at most `max_bytes` together (see [`weight`]).
    pub(crate) fn new(max_bytes: u64) -> Self {
        let books = Arc::new(Mutex::new(Books::default()));
        let listener_books = Arc::clone(&books);
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_: &Arc<str>, entry: &Entry| entry.weight)
            .expire_after(PerEntryTtl)
            .eviction_listener(move |key: Arc<Arc<str>>, entry: Entry, cause| {
                if cause != RemovalCause::Replaced {
                    lock(&listener_books).removed(&key, entry.sequence);
                }
            })
            .build();
        Self {
            entries,
            books,
            sequence: AtomicU64::new(0),
            max_bytes,
            too_large: AtomicU64::new(0),
            leases: Mutex::default(),
            marks: Mutex::default(),
            clock: Instant::now(),
        }
    }

    /// The store's clock now. Marks and guards compare stamps of this clock only; a mark set in
    /// the same nanosecond as a write began counts as after it (the write is refused).
    pub(crate) fn stamp(&self) -> Stamp {
        nanos(self.clock.elapsed()).saturating_add(1)
    }

    /// Sets `marks` now.
    pub(crate) fn mark(&self, marks: &Marks) {
        let now = self.stamp();
        let until = now.saturating_add(nanos(marks.ttl));
        let mut held = lock(&self.marks);
        held.retain(|_, (_, end)| *end > now);
        for name in &marks.names {
            held.insert(name.clone(), (now, until));
        }
    }

    /// Whether `guard` lets a write through now: no mark of its names was set at or after the
    /// moment the write began, and that moment is recent enough for the marks to tell.
    pub(crate) fn admits(&self, guard: &Guard) -> bool {
        let now = self.stamp();
        if now.saturating_sub(guard.began) >= nanos(guard.window) {
            return false;
        }
        let held = lock(&self.marks);
        !guard.names.iter().any(|name| {
            held.get(name)
                .is_some_and(|(at, end)| *end > now && *at >= guard.began)
        })
    }

    /// Drops every entry.
    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
    }

    /// The store's accounting, for [`crate::Stats::store`].
    pub(crate) fn memory_stats(&self) -> StoreStats {
        self.entries.run_pending_tasks();
        StoreStats {
            memory_bytes: self.entries.weighted_size(),
            memory_max_bytes: self.max_bytes,
            memory_entries: self.entries.entry_count(),
            too_large_for_memory: self.too_large.load(Ordering::Relaxed),
            ..StoreStats::default()
        }
    }

    fn found(entry: Entry, remaining: bool) -> Found {
        Found {
            remaining: remaining.then(|| entry.ttl.saturating_sub(entry.written.elapsed())),
            value: entry.value,
            typed: entry.typed,
        }
    }

    /// Writes synchronously: the in-process half of every write of the tiered store.
    pub(crate) fn write(&self, writes: Vec<Write>) {
        let written = Instant::now();
        for write in writes {
            let sets = write.index.map(|index| index.sets).unwrap_or_default();
            let weight = weigh(
                write.key.len(),
                write.value.len(),
                write.typed.is_some(),
                sets.len(),
            );
            let weight = match u32::try_from(weight) {
                Ok(weight) if u64::from(weight) <= self.max_bytes => weight,
                // Kept, it would evict everything else and still not fit: not kept, and an
                // older value of the key does not outlive this newer one.
                _ => {
                    self.too_large.fetch_add(1, Ordering::Relaxed);
                    self.entries.invalidate(write.key.as_str());
                    continue;
                }
            };
            let key: Arc<str> = Arc::from(write.key);
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
            lock(&self.books).written(&key, sequence, sets);
            let entry = Entry {
                // A buffer of exactly the value's length: an encoder's buffer may have twice
                // the capacity, which the weight would not see.
                value: Bytes::copy_from_slice(&write.value),
                ttl: write.ttl,
                written,
                typed: write.typed,
                sequence,
                weight,
            };
            self.entries.insert(key, entry);
        }
    }

    /// Deletes `keys` (and their companions) synchronously; how many of `keys` existed.
    pub(crate) fn remove(&self, keys: &[String], companion: Option<Companion>) -> u64 {
        let mut deleted = 0;
        for key in keys {
            if self.entries.remove(key.as_str()).is_some() {
                deleted += 1;
            }
            if let Some(companion) = companion {
                self.entries.invalidate(companion(key).as_str());
            }
        }
        deleted
    }

    /// Deletes the members of the index set `set` synchronously, without walking other entries.
    pub(crate) fn remove_index(&self, set: &str, companion: Option<Companion>) -> u64 {
        let members = lock(&self.books).take_set(set);
        let mut deleted = 0;
        for member in members {
            if self.entries.remove(&*member).is_some() {
                deleted += 1;
            }
            if let Some(companion) = companion {
                self.entries.invalidate(companion(&member).as_str());
            }
        }
        deleted
    }

    /// Deletes every key starting with `prefix` synchronously, from the ordered key set. (Marks
    /// are kept apart from entries, so no prefix reaches them.)
    pub(crate) fn remove_prefix(&self, prefix: &str) -> u64 {
        let keys = lock(&self.books).keys_under(prefix);
        keys.iter()
            .filter(|key| self.entries.remove(&***key).is_some())
            .count() as u64
    }

    fn lease(&self, key: &str, token: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let mut leases = lock(&self.leases);
        leases.retain(|_, (_, until)| *until > now);
        if leases.contains_key(key) {
            return false;
        }
        let until = now.checked_add(ttl.min(super::MAX_TTL)).unwrap_or(now);
        leases.insert(key.to_owned(), (token.to_owned(), until));
        true
    }

    fn release(&self, key: &str, token: &str) {
        let mut leases = lock(&self.leases);
        if leases.get(key).is_some_and(|(holder, _)| holder == token) {
            leases.remove(key);
        }
    }
}

impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn stats(&self) -> StoreStats {
        self.memory_stats()
    }

    fn begin<'a>(
        &'a self,
        _key: &'a str,
        _gens: &'a Generations,
        _ttl: Duration,
        basis: Basis,
    ) -> StoreFuture<'a, Began> {
        let at = self.stamp();
        Box::pin(async move { Ok(Began { at, basis }) })
    }

    fn get_local(&self, key: &str) -> Local {
        match self.entries.get(key) {
            Some(entry) => Local::Hit(Self::found(entry, false)),
            None => Local::Miss,
        }
    }

    fn get<'a>(&'a self, key: &'a str, read: Read<'a>) -> StoreFuture<'a, Fetched> {
        let fetched = match self.entries.get(key) {
            Some(entry) => Fetched::hit(Self::found(entry, read.remaining)),
            None => Fetched::miss(),
        };
        Box::pin(async move { Ok(fetched) })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
        _gens: &'a [Generations],
    ) -> StoreFuture<'a, Vec<Fetched>> {
        let found = keys
            .iter()
            .map(|key| match self.entries.get(key.as_str()) {
                Some(entry) => Fetched::hit(Self::found(entry, false)),
                None => Fetched::miss(),
            })
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn set_many(
        &self,
        writes: Vec<Write>,
        guard: Option<Guard>,
        _announce: bool,
    ) -> StoreFuture<'_, bool> {
        let admitted = guard.as_ref().is_none_or(|guard| self.admits(guard));
        if admitted {
            self.write(writes);
        }
        Box::pin(async move { Ok(admitted) })
    }

    fn delete(
        &self,
        keys: Vec<String>,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> StoreFuture<'_, u64> {
        if let Some(marks) = &marks {
            self.mark(marks);
        }
        let deleted = self.remove(&keys, companion);
        Box::pin(async move { Ok(deleted) })
    }

    fn delete_scope<'a>(
        &'a self,
        scope: &'a Scope,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> StoreFuture<'a, u64> {
        if let Some(marks) = &marks {
            self.mark(marks);
        }
        let deleted = self.remove_index(&scope.set, companion);
        Box::pin(async move { Ok(deleted) })
    }

    fn delete_prefix<'a>(
        &'a self,
        prefix: &'a str,
        _generation: Option<&'a GenTarget>,
        _scan: bool,
        marks: Option<Marks>,
    ) -> StoreFuture<'a, u64> {
        if let Some(marks) = &marks {
            self.mark(marks);
        }
        let deleted = self.remove_prefix(prefix);
        Box::pin(async move { Ok(deleted) })
    }

    /// Within one process the lease excludes other holders as Redis's does across processes
    /// (several `Cache`s over one store, or a lease outliving its single flight).
    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        let taken = self.lease(key, token, ttl);
        Box::pin(async move { Ok(taken) })
    }

    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> StoreFuture<'a, ()> {
        self.release(key, token);
        Box::pin(async { Ok(()) })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    fn health(&self) -> Pin<Box<dyn Future<Output = StoreHealth> + Send + '_>> {
        let stats = self.memory_stats();
        Box::pin(async move {
            StoreHealth {
                reachable: true,
                memory: Some(MemoryHealth {
                    entries: stats.memory_entries,
                    weighted_size: stats.memory_bytes,
                    max_bytes: stats.memory_max_bytes,
                }),
                ..StoreHealth::default()
            }
        })
    }

    fn direct(&self) -> &dyn super::direct::Direct {
        self
    }
}

#[cfg(test)]
mod tests;
