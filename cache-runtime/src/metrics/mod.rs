//! What the cache counts and how it is seen: the counters of one call site ([`Counters`],
//! exported through the `metrics` facade with the `metrics` feature), the public snapshot
//! ([`Stats`]), and rate-limited logging ([`LogGate`]).

mod counters;
#[cfg(feature = "metrics")]
mod export;
mod kind;
pub(crate) mod popular;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::breaker::BreakerState;

pub(crate) use self::counters::{Counters, Timer};
#[cfg(feature = "metrics")]
pub(crate) use self::export::InvalidationMetrics;
pub(crate) use self::kind::ErrorKind;

/// What one policy's (or one function's) calls did since start-up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PolicyStats {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Calls that ran the function (including after an error or an undecodable entry).
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 before the first call.
    pub hit_rate: f64,
    /// Store operations that failed (timeouts, connection errors, Redis errors, breaker open).
    pub errors: u64,
    /// Entries that could not be decoded as the function's type; treated as misses.
    pub undecodable: u64,
    /// Entries in another codec than the function's (JSON read by a `codec = "msgpack"` site or
    /// the reverse, during a change of codec), or frames that cannot be opened (an unknown
    /// frame, a compressed entry that does not decompress or would decompress past the maximum
    /// value size); treated as misses and overwritten, not logged.
    pub codec_mismatch: u64,
    /// Results not stored because they exceeded the maximum value size.
    pub oversized: u64,
    /// Results not stored because their codec cannot encode them (e.g. a map keyed by tuples
    /// in JSON).
    pub unencodable: u64,
    /// Calls that skipped the cache by rule: a tenant was required and none was in scope, or
    /// a type parameter in the return position turned out to be a `Result`.
    pub bypassed: u64,
    /// Failed calls answered with a value past its TTL, within the `stale_if_error` window.
    pub stale: u64,
    /// Entries recomputed in the background before they expired (`refresh_ahead`).
    pub refreshed: u64,
    /// Calls that ran uncached because the same task was already computing their key (a
    /// function calling itself, or another function with the same key): waiting would deadlock.
    pub reentered: u64,
    /// Computed values not stored because an invalidation of their entry came while they were
    /// being computed (they were returned to their caller, and the next call computes again).
    pub superseded: u64,
    /// Calls that waited for another caller's computation of the same key (single flight)
    /// instead of running the function.
    pub waited: u64,
}

impl PolicyStats {
    /// Adds `other`'s counts to these (several functions share a policy).
    pub(crate) fn merge(&mut self, other: &PolicyStats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.errors += other.errors;
        self.undecodable += other.undecodable;
        self.codec_mismatch += other.codec_mismatch;
        self.oversized += other.oversized;
        self.unencodable += other.unencodable;
        self.bypassed += other.bypassed;
        self.stale += other.stale;
        self.refreshed += other.refreshed;
        self.reentered += other.reentered;
        self.superseded += other.superseded;
        self.waited += other.waited;
        self.hit_rate = hit_rate(self.hits, self.misses);
    }
}

/// `hits / (hits + misses)`, 0 before the first call.
fn hit_rate(hits: u64, misses: u64) -> f64 {
    match hits + misses {
        0 => 0.0,
        lookups => hits as f64 / lookups as f64,
    }
}

/// A snapshot of a cache's state and counters.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// `"redis"`, `"memory"` or `"disabled"`.
    pub backend: &'static str,
    /// The outage breaker in front of Redis (always closed for the in-process store).
    pub breaker: BreakerState,
    /// Counters by policy name (or by function path for a literal `ttl`): the sum of the
    /// functions of each policy.
    pub policies: BTreeMap<String, PolicyStats>,
    /// Counters by function path (`my_service::quotes::quote`), one entry per `#[cached]`
    /// function called so far.
    pub functions: BTreeMap<String, PolicyStats>,
    /// Invalidations that could not reach the store when asked, and what became of them.
    pub invalidations: InvalidationStats,
    /// What the store reports about itself: the Redis server, the in-process bound.
    pub store: StoreStats,
    /// Writes whose key or an index name was longer than `CACHE_MAX_KEY_BYTES` (or whose tenant
    /// segment was longer than 96 bytes), written as a readable head and a SHA-256.
    pub shortened_keys: u64,
    /// Typed entries, counters and rate limits: their failures and fallbacks.
    pub direct: crate::direct_stats::DirectStats,
}

impl Default for Stats {
    /// The stats of no cache at all: disabled, nothing counted.
    fn default() -> Self {
        Self {
            backend: "disabled",
            breaker: BreakerState::Closed,
            policies: BTreeMap::new(),
            functions: BTreeMap::new(),
            invalidations: InvalidationStats::default(),
            store: StoreStats::default(),
            shortened_keys: 0,
            direct: crate::direct_stats::DirectStats::default(),
        }
    }
}

/// The store's own state, beside the counters of the calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StoreStats {
    /// The Redis server's version (`INFO server`), once it answered.
    pub redis_version: Option<String>,
    /// Why the store refuses to cache although the server answers (e.g. a Redis older than
    /// 7.0): every call runs the function, and nothing is written.
    pub refused: Option<String>,
    /// What is wrong with the connection while it fails for a reason the server gave (e.g.
    /// "authentication failed", "database 20 does not exist"); `None` once it works.
    pub connection_problem: Option<String>,
    /// Bytes the in-process store (or local tier) accounts for its entries: keys, encoded and
    /// decoded values, index names and a per-entry overhead.
    pub memory_bytes: u64,
    /// Its bound, `CACHE_MEMORY_MAX_BYTES` (0 without an in-process store).
    pub memory_max_bytes: u64,
    /// Entries it holds.
    pub memory_entries: u64,
    /// Values not kept in-process because they alone would take more than the bound.
    pub too_large_for_memory: u64,
}

/// Invalidations that failed and were kept for replay (none are dropped silently).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct InvalidationStats {
    /// Invalidations carried out when asked.
    pub done: u64,
    /// Invalidations that failed and were queued for replay.
    pub queued: u64,
    /// Queued invalidations carried out once the store answered again.
    pub replayed: u64,
    /// Queued invalidations given up because the queue was full; each time, the whole queue was
    /// replaced by one invalidation of every entry under the key prefix, so that nothing stale
    /// is served.
    pub dropped: u64,
    /// Invalidations waiting for the store now. While any wait, no entry is served from Redis.
    pub pending: u64,
}

/// Lets one log line through per interval and counts the ones it held back.
#[derive(Debug)]
pub(crate) struct LogGate {
    epoch: Instant,
    interval: Duration,
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl LogGate {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            interval,
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last one)` when a line may be logged now.
    pub(crate) fn admit(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64;
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now + self.interval.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_gate_admits_one_line_per_interval() {
        let gate = LogGate::new(Duration::from_millis(50));
        assert_eq!(gate.admit(), Some(0));
        assert_eq!(gate.admit(), None);
        assert_eq!(gate.admit(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(gate.admit(), Some(2));
    }
}
