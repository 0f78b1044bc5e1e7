//! The in-process store: a `moka` cache bounded by bytes, with a TTL per entry, plus what the
//! [`Store`] trait asks of every backend, done for real: index sets kept beside the entries, an
//! ordered key set for prefix deletes, and leases that exclude.
//!
//! The books (key set and index sets) are updated on every write and by `moka`'s eviction
//! listener when an entry leaves (expired, evicted for size, deleted). Each write carries a
//! sequence number, so that the listener of an old entry never removes a newer entry of the same
//! key from the books.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use super::{Companion, Found, Local, Read, Store, StoreFuture, Typed, Write};

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
    written: Instant,
    /// The index sets this entry belongs to.
    indexes: Arc<[String]>,
    typed: Option<Typed>,
    sequence: u64,
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

/// Which keys exist (ordered, for prefix deletes) and which index sets hold them.
#[derive(Default)]
struct Books {
    /// Key -> sequence number of its live write.
    keys: BTreeMap<Arc<str>, u64>,
    sets: HashMap<String, HashSet<Arc<str>>>,
}

impl Books {
    fn written(&mut self, key: &Arc<str>, sequence: u64, indexes: &[String]) {
        self.keys.insert(Arc::clone(key), sequence);
        for set in indexes {
            self.sets
                .entry(set.clone())
                .or_default()
                .insert(Arc::clone(key));
        }
    }

    fn removed(&mut self, key: &Arc<str>, sequence: u64, indexes: &[String]) {
        if self.keys.get(key) != Some(&sequence) {
            return;
        }
        self.keys.remove(key);
        for set in indexes {
            if let Some(members) = self.sets.get_mut(set) {
                members.remove(key);
                if members.is_empty() {
                    self.sets.remove(set);
                }
            }
        }
    }
}

pub(crate) struct MemoryStore {
    entries: Cache<Arc<str>, Entry>,
    books: Arc<Mutex<Books>>,
    sequence: AtomicU64,
    /// Lease key -> (token, end of the lease).
    leases: Mutex<HashMap<String, (String, Instant)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryStore {
    /// A store holding at most about `max_bytes` of keys and values.
    pub(crate) fn new(max_bytes: u64) -> Self {
        let books = Arc::new(Mutex::new(Books::default()));
        let listener_books = Arc::clone(&books);
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &Arc<str>, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .eviction_listener(move |key: Arc<Arc<str>>, entry: Entry, cause| {
                if cause != RemovalCause::Replaced {
                    lock(&listener_books).removed(&key, entry.sequence, &entry.indexes);
                }
            })
            .build();
        Self {
            entries,
            books,
            sequence: AtomicU64::new(0),
            leases: Mutex::default(),
        }
    }

    /// Drops every entry.
    pub(crate) fn clear(&self) {
        self.entries.invalidate_all();
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
            let key: Arc<str> = Arc::from(write.key);
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
            let indexes: Arc<[String]> = write
                .index
                .map_or_else(|| Arc::from(Vec::new()), |index| Arc::from(index.sets));
            lock(&self.books).written(&key, sequence, &indexes);
            let entry = Entry {
                value: write.value,
                ttl: write.ttl,
                written,
                indexes,
                typed: write.typed,
                sequence,
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
        let members = lock(&self.books).sets.remove(set).unwrap_or_default();
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

    /// Deletes every key starting with `prefix` synchronously, from the ordered key set.
    pub(crate) fn remove_prefix(&self, prefix: &str) -> u64 {
        let keys: Vec<Arc<str>> = lock(&self.books)
            .keys
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(|(key, _)| key)
            .take_while(|key| key.starts_with(prefix))
            .cloned()
            .collect();
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

    fn get_local(&self, key: &str) -> Local {
        match self.entries.get(key) {
            Some(entry) => Local::Hit(Self::found(entry, false)),
            None => Local::Miss,
        }
    }

    fn get<'a>(&'a self, key: &'a str, read: Read) -> StoreFuture<'a, Option<Found>> {
        let found = self
            .entries
            .get(key)
            .map(|entry| Self::found(entry, read.remaining));
        Box::pin(async move { Ok(found) })
    }

    fn get_many<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<Found>>> {
        let found = keys
            .iter()
            .map(|key| {
                self.entries
                    .get(key.as_str())
                    .map(|entry| Self::found(entry, false))
            })
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn set_many(&self, writes: Vec<Write>) -> StoreFuture<'_, ()> {
        self.write(writes);
        Box::pin(async { Ok(()) })
    }

    fn delete(&self, keys: Vec<String>, companion: Option<Companion>) -> StoreFuture<'_, u64> {
        let deleted = self.remove(&keys, companion);
        Box::pin(async move { Ok(deleted) })
    }

    fn delete_index<'a>(
        &'a self,
        set: &'a str,
        companion: Option<Companion>,
    ) -> StoreFuture<'a, u64> {
        let deleted = self.remove_index(set, companion);
        Box::pin(async move { Ok(deleted) })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, u64> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Index;

    fn write(key: &str, sets: &[&str]) -> Write {
        Write {
            key: key.to_owned(),
            value: Bytes::from_static(b"1"),
            ttl: Duration::from_secs(60),
            typed: None,
            index: Some(Index {
                sets: sets.iter().map(|s| (*s).to_owned()).collect(),
                ttl: Duration::from_secs(60),
            }),
        }
    }

    #[test]
    fn an_index_delete_removes_its_members_only() {
        let store = MemoryStore::new(1 << 20);
        store.write(vec![
            write("a", &["s"]),
            write("b", &["s", "t"]),
            write("c", &["t"]),
        ]);
        assert_eq!(store.remove_index("s", None), 2);
        assert!(matches!(store.get_local("a"), Local::Miss));
        assert!(matches!(store.get_local("c"), Local::Hit(_)));
        assert_eq!(store.remove_index("s", None), 0, "the set is gone");
        assert_eq!(store.remove_index("t", None), 1, "b was already deleted");
    }

    #[test]
    fn a_prefix_delete_removes_exactly_the_keys_under_it() {
        let store = MemoryStore::new(1 << 20);
        store.write(vec![
            write("v1:t=a:x", &[]),
            write("v1:t=a:y", &[]),
            write("v1:t=ab:x", &[]),
        ]);
        assert_eq!(store.remove_prefix("v1:t=a:"), 2);
        assert!(matches!(store.get_local("v1:t=ab:x"), Local::Hit(_)));
    }

    #[test]
    fn a_rewritten_key_stays_in_the_books() {
        let store = MemoryStore::new(1 << 20);
        store.write(vec![write("k", &["s"])]);
        store.write(vec![write("k", &["s"])]);
        store.entries.run_pending_tasks();
        assert_eq!(store.remove_prefix("k"), 1);
    }

    #[test]
    fn a_lease_excludes_until_its_holder_releases_it() {
        let store = MemoryStore::new(1 << 20);
        let lease = Duration::from_secs(10);
        assert!(store.lease("l", "one", lease));
        assert!(!store.lease("l", "two", lease));
        store.release("l", "two");
        assert!(!store.lease("l", "two", lease), "only the holder releases");
        store.release("l", "one");
        assert!(store.lease("l", "two", lease));
    }

    #[test]
    fn a_lease_runs_out() {
        let store = MemoryStore::new(1 << 20);
        assert!(store.lease("l", "one", Duration::from_millis(1)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.lease("l", "two", Duration::from_secs(10)));
    }
}
