//! [`Direct`] on the in-process store: the entries are the same `moka` entries (and books) as
//! cached values, so listing and prefix deletes see them. Read-modify-writes (compare-and-set,
//! increments, expiry changes) hold one lock, so that they are atomic as Redis's are.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{lock, MemoryStore};
use crate::store::direct::{counter_value, wildcard_match, Counted, Direct};
use crate::store::{StoreFuture, Write, MAX_TTL};

/// Serialises the read-modify-writes of every in-process store: they are short and rare next
/// to reads, so one lock costs less than one per store.
static READ_MODIFY_WRITE: Mutex<()> = Mutex::new(());

fn exclusive() -> MutexGuard<'static, ()> {
    lock(&READ_MODIFY_WRITE)
}

impl MemoryStore {
    /// The bytes at `key` and their remaining lifetime.
    fn current(&self, key: &str) -> Option<(Bytes, Duration)> {
        self.entries.get(key).and_then(|entry| {
            let remaining = entry.ttl.checked_sub(entry.written.elapsed())?;
            (!remaining.is_zero()).then_some((entry.value, remaining))
        })
    }

    fn put(&self, key: &str, value: Bytes, ttl: Duration) {
        self.write(vec![Write {
            key: key.to_owned(),
            value,
            ttl: ttl.min(MAX_TTL),
            typed: None,
            index: None,
            basis: Default::default(),
        }]);
    }

    fn count(&self, key: &str, window: Duration, peek: Option<&str>) -> Counted {
        let _exclusive = exclusive();
        let (count, reset) = match self.current(key) {
            Some((bytes, remaining)) => (counter_value(Some(&bytes)).saturating_add(1), remaining),
            None => (1, window.min(MAX_TTL)),
        };
        self.put(key, Bytes::from(count.to_string()), reset);
        let peeked = peek.map_or(0, |peek| {
            counter_value(self.current(peek).as_ref().map(|(bytes, _)| &bytes[..]))
        });
        Counted {
            count,
            reset,
            peeked,
        }
    }

    fn swap_if(&self, key: &str, expected: Option<&[u8]>, value: Bytes, ttl: Duration) -> bool {
        let _exclusive = exclusive();
        let current = self.current(key);
        let matches = match (&current, expected) {
            (Some((bytes, _)), Some(expected)) => bytes[..] == *expected,
            (None, None) => true,
            _ => false,
        };
        if matches {
            let ttl = current.map_or(ttl, |(_, remaining)| remaining);
            self.put(key, value, ttl);
        }
        matches
    }

    fn extend_now(&self, key: &str, ttl: Duration) -> bool {
        let _exclusive = exclusive();
        match self.current(key) {
            Some((bytes, _)) => {
                self.put(key, bytes, ttl);
                true
            }
            None => false,
        }
    }

    fn matching(&self, prefix: &str, pattern: &str, limit: usize) -> Vec<String> {
        let now = Instant::now();
        let keys = lock(&self.books).keys_under(prefix);
        keys.iter()
            .filter(|key| wildcard_match(pattern, &key[prefix.len()..]))
            .filter(|key| {
                self.entries
                    .get(&***key)
                    .is_some_and(|entry| entry.written + entry.ttl > now)
            })
            .take(limit)
            .map(|key| key.to_string())
            .collect()
    }
}

impl Direct for MemoryStore {
    fn probe(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    fn fetch<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        let found = self.current(key).map(|(bytes, _)| bytes);
        Box::pin(async move { Ok(found) })
    }

    fn replace<'a>(&'a self, key: &'a str, value: Bytes, ttl: Duration) -> StoreFuture<'a, ()> {
        {
            let _exclusive = exclusive();
            self.put(key, value, ttl);
        }
        Box::pin(async { Ok(()) })
    }

    fn discard<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        let existed = {
            let _exclusive = exclusive();
            let existed = self.current(key).is_some();
            self.entries.invalidate(key);
            existed
        };
        Box::pin(async move { Ok(existed) })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        let exists = self.current(key).is_some();
        Box::pin(async move { Ok(exists) })
    }

    fn remaining<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Duration>> {
        let remaining = self.current(key).map(|(_, remaining)| remaining);
        Box::pin(async move { Ok(remaining) })
    }

    fn extend<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        let extended = self.extend_now(key, ttl);
        Box::pin(async move { Ok(extended) })
    }

    fn compare_and_set<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        value: Bytes,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        let swapped = self.swap_if(key, expected, value, ttl);
        Box::pin(async move { Ok(swapped) })
    }

    fn increment<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        peek: Option<&'a str>,
    ) -> StoreFuture<'a, Counted> {
        let counted = self.count(key, window, peek);
        Box::pin(async move { Ok(counted) })
    }

    fn scan<'a>(
        &'a self,
        prefix: &'a str,
        pattern: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        let keys = self.matching(prefix, pattern, limit);
        Box::pin(async move { Ok(keys) })
    }
}
