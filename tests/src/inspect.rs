//! Reading what a cache left behind, for assertions: its counters and what Redis holds.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{Cache, CacheBuilder, PolicyStats};
use redis::aio::MultiplexedConnection;
use serde::Serialize;

use crate::RedisServer;

/// A cache on `server` with the default settings; panics with the server's log if it fails.
pub async fn redis_cache(server: &RedisServer) -> Cache {
    CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", server.log()))
}

/// How often a test's function body ran.
pub fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// The counters of one policy; panics, showing every counter, if it has none yet.
pub fn policy(cache: &Cache, label: &str) -> PolicyStats {
    cache
        .stats()
        .policies
        .get(label)
        .cloned()
        .unwrap_or_else(|| panic!("no stats for `{label}`: {:?}", cache.stats()))
}

/// Hits over every policy of `cache`.
pub fn total_hits(cache: &Cache) -> u64 {
    cache.stats().policies.values().map(|p| p.hits).sum()
}

/// Store errors over every policy of `cache`.
pub fn total_errors(cache: &Cache) -> u64 {
    cache.stats().policies.values().map(|p| p.errors).sum()
}

/// The bytes at `key`, read with a plain `GET`.
pub async fn get_raw(connection: &mut MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e}"))
}

/// The value of the entry at `key`: what the cache stored, out of the envelope that carries its
/// generation stamp (`{"g":"<stamp>","v":<value>}`, or `0xC1 'G'`, 8 bytes, value for binary
/// codecs); `None` when the key holds no entry (absent, a tombstone, anything else).
pub async fn get_entry(connection: &mut MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    entry_value(&get_raw(connection, key).await?)
}

/// The value inside an entry's envelope (see [`get_entry`]).
pub fn entry_value(raw: &[u8]) -> Option<Vec<u8>> {
    const HEAD: &[u8] = b"{\"g\":\"";
    const MID: &[u8] = b"\",\"v\":";
    let payload = HEAD.len() + 16 + MID.len();
    if raw.starts_with(HEAD) && raw.len() > payload && raw.last() == Some(&b'}') {
        if &raw[HEAD.len() + 16..payload] != MID {
            return None;
        }
        return Some(raw[payload..raw.len() - 1].to_vec());
    }
    if raw.starts_with(b"\xC1G") && raw.len() > 10 {
        return Some(raw[10..].to_vec());
    }
    None
}

/// `raw`, an entry's envelope, holding `value` instead of its own: what another writer with the
/// same generations would have stored.
pub fn with_value(raw: &[u8], value: &[u8]) -> Vec<u8> {
    let head = raw.len() - entry_value(raw).expect("an entry").len() - 1;
    let mut out = raw[..head].to_vec();
    out.extend_from_slice(value);
    out.push(b'}');
    out
}

/// What the cache stores for `value`: its JSON.
pub fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_string(value)
        .expect("test values encode")
        .into_bytes()
}

/// Waits (at most 5 s) until every one of `caches` listens for invalidation events: a tier that
/// (re)subscribes clears its copies, so a test that relies on events waits for this first.
pub async fn until_listening(caches: &[&Cache]) {
    for cache in caches {
        tokio::time::timeout(std::time::Duration::from_secs(5), cache.listening())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "a local tier did not listen within 5 s: {:?}",
                    cache.stats()
                )
            });
    }
}

/// Every key on one server, with `SCAN` (never `KEYS`), sorted and without repeats (`SCAN` may
/// return a key twice).
pub async fn scan_keys(connection: &mut MultiplexedConnection) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(connection)
            .await
            .unwrap_or_else(|e| panic!("SCAN: {e}"));
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    keys
}
