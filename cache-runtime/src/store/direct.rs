//! [`Direct`]: the raw operations behind typed entries, counters, limiters and the maintenance
//! utilities, next to the get-or-set operations of [`Store`](super::Store).
//!
//! Every backend implements it: the in-process store (`memory::direct`), Redis
//! (`redis::direct`, under the same breaker, permits and deadlines as every other command) and
//! the tiered store (Redis, dropping the local copy of what it writes). Like `Store`, it knows
//! nothing of the key layout: it acts on the names it is given.

use std::time::Duration;

use bytes::Bytes;

use super::StoreFuture;

/// A windowed counter after an increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted {
    /// The count after this increment.
    pub(crate) count: u64,
    /// How long the counter has left to live: the rest of its window.
    pub(crate) reset: Duration,
    /// The value of the counter named by `peek`, read in the same round trip (0 if absent).
    pub(crate) peeked: u64,
}

/// Raw key-value operations on one store.
pub(crate) trait Direct: Send + Sync {
    /// Answers when the store does (`PING`).
    fn probe(&self) -> StoreFuture<'_, ()>;

    /// The bytes at `key`, if any.
    fn fetch<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>>;

    /// Stores `value` at `key` for `ttl` (`SET … PX`).
    fn replace<'a>(&'a self, key: &'a str, value: Bytes, ttl: Duration) -> StoreFuture<'a, ()>;

    /// Deletes `key`; whether it existed.
    fn discard<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;

    /// Whether `key` exists.
    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;

    /// How long `key` has left (`PTTL`); `None` when it does not exist (or never expires).
    fn remaining<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Duration>>;

    /// Gives `key` `ttl` to live from now without rewriting it (`PEXPIRE`); whether it exists.
    fn extend<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool>;

    /// Atomically: if `key` holds `expected` (`None`: does not exist), stores `value` there and
    /// returns true. An existing key keeps its remaining TTL (`KEEPTTL`); a new one gets `ttl`.
    fn compare_and_set<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        value: Bytes,
        ttl: Duration,
    ) -> StoreFuture<'a, bool>;

    /// Adds 1 to the counter `key`, giving it `window` to live when this increment created it
    /// (`INCR` + `PEXPIRE … NX` + `PTTL`, and `GET peek` when asked), in one round trip.
    fn increment<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        peek: Option<&'a str>,
    ) -> StoreFuture<'a, Counted>;

    /// Up to `limit` keys that start with `prefix` and then match `pattern`, in which `*` (any
    /// text) is the only wildcard: every other character matches only itself. `SCAN`, never
    /// `KEYS`.
    fn scan<'a>(
        &'a self,
        prefix: &'a str,
        pattern: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>>;
}

/// Whether `text` matches `pattern`, where `*` matches any text and every other character only
/// itself: the in-process counterpart of the escaped `SCAN MATCH` glob.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The value of a counter's bytes (decimal ASCII, as Redis keeps them); 0 when absent or not a
/// counter.
pub(crate) fn counter_value(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn only_the_star_is_a_wildcard() {
        assert!(wildcard_match("session:*", "session:u1"));
        assert!(wildcard_match("*:u1", "session:u1"));
        assert!(wildcard_match("s*n:*1", "session:u1"));
        assert!(wildcard_match("session:u1", "session:u1"));
        assert!(!wildcard_match("session:u?", "session:u1"));
        assert!(wildcard_match("session:u?", "session:u?"));
        assert!(!wildcard_match("session:[u]1", "session:u1"));
        assert!(!wildcard_match("a*a", "a"));
        assert!(wildcard_match("*", ""));
    }
}
