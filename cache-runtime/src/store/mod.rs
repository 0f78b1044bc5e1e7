//! Where entries live: the [`Store`] trait and its backends (in-process, Redis, and the tiered
//! store of an in-process copy in front of Redis).
//!
//! # Why a trait object
//!
//! The engine holds one `Box<dyn Store>`, chosen at start-up from the configuration; it never
//! asks which backend it holds. The alternative, an engine generic over its store, would make
//! the store a type parameter of `Cache` and of everything the expansion of `#[cached]`
//! calls, although the choice is made at run time from `REDIS_URL`. The price of the trait
//! object is one boxed future per store operation: a few tens of nanoseconds against a network
//! round trip of tens of microseconds. The one path where that would show, a hit in an
//! in-process store, does not pay it: [`Store::get_local`] is synchronous and answers from
//! memory without a future.
//!
//! A store knows nothing of the key layout: it stores, indexes, locks and deletes the names it
//! is given (see `crate::key`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

pub(crate) mod direct;
pub(crate) mod health;
pub(crate) mod memory;
pub(crate) mod redis;
pub(crate) mod tiered;

use self::health::StoreHealth;
use crate::breaker::BreakerState;
use crate::key::{GenTarget, Generations, Scope};
use crate::metrics::StoreStats;

/// A failed store operation. Never reaches a caller of a cached function: it is counted and
/// logged, and the function's own result is returned.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// The breaker is open: the store was not asked.
    BreakerOpen,
    /// No answer within the operation timeout.
    Timeout,
    /// The store answered with an error, or the connection failed.
    Redis(::redis::RedisError),
    /// The server answers, but the store will not use it (a Redis older than 7.0).
    Refused(self::redis::Refusal),
}

impl StoreError {
    /// Whether the store is unreachable (as opposed to refusing one command).
    pub(crate) fn is_outage(&self) -> bool {
        match self {
            StoreError::BreakerOpen | StoreError::Timeout | StoreError::Refused(_) => true,
            StoreError::Redis(error) => is_outage(error),
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::BreakerOpen => f.write_str("breaker open"),
            StoreError::Timeout => f.write_str("timed out"),
            StoreError::Redis(error) => write!(f, "{error}"),
            StoreError::Refused(refusal) => write!(f, "{refusal}"),
        }
    }
}

/// Errors that mean the server is unreachable or unhealthy, as opposed to a refused command.
pub(crate) fn is_outage(error: &::redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
        || error.is_cluster_error()
}

/// A stored value and how long it has left to live, when the store was asked.
#[derive(Clone)]
pub(crate) struct Found {
    pub(crate) value: Bytes,
    pub(crate) remaining: Option<Duration>,
    /// The decoded value, when an in-process store kept it beside the bytes.
    pub(crate) typed: Option<Typed>,
}

/// A decoded value kept by in-process stores, so that a hit clones it instead of decoding JSON.
pub(crate) type Typed = std::sync::Arc<dyn std::any::Any + Send + Sync>;

/// Decodes stored bytes into a [`Typed`] value, for stores that keep one.
pub(crate) type DecodeTyped = fn(&[u8]) -> Option<Typed>;

/// Names a key deleted together with each deleted key (the stale copy beside an entry).
pub(crate) type Companion = fn(&str) -> String;

/// How to read one key.
#[derive(Clone, Copy, Default)]
pub(crate) struct Read<'a> {
    /// Also return the time the entry has left.
    pub(crate) remaining: bool,
    /// For stores that copy remote entries in-process: keep the copy decoded with this.
    pub(crate) decode: Option<DecodeTyped>,
    /// What a Redis entry is checked against (see `redis::generation`); without them, Redis
    /// answers a miss.
    pub(crate) gens: Option<&'a Generations>,
}

/// What a read found, and what a write of the same key must be based on.
pub(crate) struct Fetched {
    /// A valid entry.
    pub(crate) found: Option<Found>,
    pub(crate) basis: Basis,
    /// The key held bytes that are not an entry (not written by this crate, or corrupted).
    pub(crate) undecodable: bool,
}

impl Fetched {
    /// A miss with nothing to base a write on (in-process stores need nothing).
    pub(crate) fn miss() -> Self {
        Self {
            found: None,
            basis: Basis::default(),
            undecodable: false,
        }
    }

    pub(crate) fn hit(found: Found) -> Self {
        Self {
            found: Some(found),
            basis: Basis::default(),
            undecodable: false,
        }
    }
}

/// What a write to Redis is conditioned on: the stamp of the generations its value was computed
/// under, and what the key held before it was computed (see `redis::generation`). In-process
/// stores ignore it: their writes are guarded by marks ([`Guard`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Basis {
    /// The stamp of the entry's generations when its value began to be computed; `None` until
    /// every generation exists ([`Store::begin`] creates the missing ones).
    pub(crate) stamp: Option<u64>,
    pub(crate) seen: Seen,
}

/// What a key held when its value began to be computed: the write happens only if it still
/// holds that, so that an invalidation in between (a tombstone) is never overwritten.
#[derive(Clone, Debug, Default)]
pub(crate) enum Seen {
    /// Not checked: written whatever the key holds (a stale copy, written with its entry).
    #[default]
    Unchecked,
    /// The key did not exist.
    Nothing,
    /// The key held these bytes.
    Bytes(Bytes),
}

/// What [`Store::begin`] returns: the moment on the store's clock, and the basis of the write.
pub(crate) struct Began {
    pub(crate) at: Stamp,
    pub(crate) basis: Basis,
}

/// What an in-process lookup found.
pub(crate) enum Local {
    /// The entry, from memory.
    Hit(Found),
    /// Memory is the whole store and it has no such entry.
    Miss,
    /// Memory does not know: ask [`Store::get`].
    Ask,
}

/// One entry to write.
pub(crate) struct Write {
    pub(crate) key: String,
    pub(crate) value: Bytes,
    pub(crate) ttl: Duration,
    /// The decoded value, for in-process stores; remote stores ignore it.
    pub(crate) typed: Option<Typed>,
    /// The index sets the entry joins, if any.
    pub(crate) index: Option<Index>,
    /// What the write is conditioned on in Redis.
    pub(crate) basis: Basis,
}

/// Index sets an entry of the in-process store joins.
#[derive(Clone)]
pub(crate) struct Index {
    pub(crate) sets: Vec<String>,
}

/// Marks that an invalidation leaves behind, so that a write which started before it cannot land
/// after it: each name holds the time of the invalidation for `ttl`.
#[derive(Clone, Debug)]
pub(crate) struct Marks {
    pub(crate) names: Vec<String>,
    pub(crate) ttl: Duration,
}

/// A moment on the in-process store's own clock ([`Store::begin`], nanoseconds): marks and
/// guards are compared on one clock.
pub(crate) type Stamp = u64;

/// The condition of a write: none of the marks `names` was set at or after `began`, the moment
/// (on the store's clock) before the written value began to be computed. A write that began
/// `window` (the marks' lifetime) or longer ago cannot be checked and is refused.
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    pub(crate) names: Vec<String>,
    pub(crate) began: Stamp,
    pub(crate) window: Duration,
}

/// The future of a store operation.
pub(crate) type StoreFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What the engine needs from a store. Every backend implements all of it.
pub(crate) trait Store: Send + Sync {
    /// `"memory"`, `"redis"` or `"redis+local"`.
    fn name(&self) -> &'static str;

    /// The outage breaker in front of a remote store; always closed in-process.
    fn breaker_state(&self) -> BreakerState {
        BreakerState::Closed
    }

    /// What the store reports about itself for `Stats::store`.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    /// For a store with in-process copies kept honest by invalidation events: whether it is
    /// listening to them now. `None` for stores without copies.
    fn listening(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        None
    }

    /// Read before the value of `key` is computed: the store's clock ([`Guard::began`]) and the
    /// basis of the write ([`Write::basis`]), completed from `basis` (what a lookup found).
    /// Redis creates the generations of `gens` that do not exist yet, so that an invalidation
    /// during the computation changes the stamp; one round trip only then.
    fn begin<'a>(
        &'a self,
        key: &'a str,
        gens: &'a Generations,
        ttl: Duration,
        basis: Basis,
    ) -> StoreFuture<'a, Began>;

    /// Whether writes are guarded by invalidation marks ([`Guard::names`]); Redis checks
    /// generations and tombstones instead.
    fn marks_writes(&self) -> bool {
        true
    }

    /// A synchronous lookup in memory, for the hot path of in-process stores and local tiers.
    fn get_local(&self, key: &str) -> Local;

    /// The bytes stored at `key`, if any, not expired and not invalidated.
    fn get<'a>(&'a self, key: &'a str, read: Read<'a>) -> StoreFuture<'a, Fetched>;

    /// What [`Store::get`] finds at each of `keys` (checked against the generations beside
    /// it), in order, in one round trip (`MGET`).
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
        gens: &'a [Generations],
    ) -> StoreFuture<'a, Vec<Fetched>>;

    /// Stores every entry with its TTL and index memberships, in one round trip and all or
    /// nothing: `Ok(false)` when `guard` refused the write (an invalidation came after it began).
    /// With `announce`, every process's in-process copy of these keys is dropped (a put
    /// overwrites what others may hold).
    fn set_many(
        &self,
        writes: Vec<Write>,
        guard: Option<Guard>,
        announce: bool,
    ) -> StoreFuture<'_, bool>;

    /// Sets `marks`, then deletes `keys` (and each one's `companion`), in one round trip;
    /// returns how many of `keys` existed.
    fn delete(
        &self,
        keys: Vec<String>,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> StoreFuture<'_, u64>;

    /// Drops every entry of `scope`: in-process, sets `marks` and deletes the members of its
    /// index set (and each one's `companion`); in Redis, bumps its generation (no entry is
    /// deleted, so `0`).
    fn delete_scope<'a>(
        &'a self,
        scope: &'a Scope,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> StoreFuture<'a, u64>;

    /// Drops every key that starts with `prefix`: bumps `generation` first (Redis), sets
    /// `marks` (in-process), then deletes the keys, on every node — in Redis only when
    /// `scan` (a pass over the whole keyspace: a purge, not an invalidation).
    fn delete_prefix<'a>(
        &'a self,
        prefix: &'a str,
        generation: Option<&'a GenTarget>,
        scan: bool,
        marks: Option<Marks>,
    ) -> StoreFuture<'a, u64>;

    /// Takes the lease `key` for `ttl` if nobody holds it: a lock that excludes every other
    /// holder until it is released or runs out.
    fn try_lock<'a>(&'a self, key: &'a str, token: &'a str, ttl: Duration)
        -> StoreFuture<'a, bool>;

    /// Releases the lease `key` if `token` still holds it.
    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> StoreFuture<'a, ()>;

    /// One `PING` under the breaker, for the background health check
    /// (`REDIS_HEALTH_CHECK_INTERVAL`): its outcome feeds the breaker like any operation's.
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// What the store says about itself now (for Redis: `PING` and `INFO`, within the operation
    /// timeout, whatever the breaker's state). Never fails: an unreachable store says so.
    fn health(&self) -> Pin<Box<dyn Future<Output = StoreHealth> + Send + '_>>;

    /// The raw operations of typed entries, counters, limiters and maintenance.
    fn direct(&self) -> &dyn direct::Direct;
}

/// The longest TTL written to a store: 100 years. Redis refuses an expiry whose deadline
/// (now + `PX`) overflows a signed 64-bit count of milliseconds, and refuses the whole write
/// with it; longer TTLs (a builder override, a TTL plus a stale window) are cut to this.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Milliseconds for a store command: at least 1, at most [`MAX_TTL`].
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.min(MAX_TTL).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
