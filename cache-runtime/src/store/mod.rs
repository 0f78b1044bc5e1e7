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

pub(crate) mod memory;
pub(crate) mod redis;
pub(crate) mod tiered;

use crate::breaker::BreakerState;
use crate::codec::Format;
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

/// Decodes stored bytes into a [`Typed`] value in the reading site's format, for stores that
/// keep one.
pub(crate) type DecodeTyped = fn(&[u8], Format) -> Option<Typed>;

/// Names a key deleted together with each deleted key (the stale copy beside an entry).
pub(crate) type Companion = fn(&str) -> String;

/// How to read one key.
#[derive(Clone, Copy, Default)]
pub(crate) struct Read {
    /// Also return the time the entry has left.
    pub(crate) remaining: bool,
    /// For stores that copy remote entries in-process: keep the copy decoded with this, in this
    /// format.
    pub(crate) decode: Option<(DecodeTyped, Format)>,
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
}

/// Index sets an entry joins, for as long as `ttl`.
#[derive(Clone)]
pub(crate) struct Index {
    pub(crate) sets: Vec<String>,
    pub(crate) ttl: Duration,
}

/// Marks that an invalidation leaves behind, so that a write which started before it cannot land
/// after it: each name holds the time of the invalidation for `ttl`.
#[derive(Clone, Debug)]
pub(crate) struct Marks {
    pub(crate) names: Vec<String>,
    pub(crate) ttl: Duration,
}

/// A moment on the store's own clock ([`Store::now`]; microseconds for Redis, nanoseconds
/// in-process): marks and guards are compared on one clock, never a client's against the
/// server's.
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

    /// The store's clock now, for [`Guard::began`]: read before a value is computed.
    fn now(&self) -> StoreFuture<'_, Stamp>;

    /// A synchronous lookup in memory, for the hot path of in-process stores and local tiers.
    fn get_local(&self, key: &str) -> Local;

    /// The bytes stored at `key`, if any and not expired.
    fn get<'a>(&'a self, key: &'a str, read: Read) -> StoreFuture<'a, Option<Found>>;

    /// The bytes stored at each of `keys`, in order, in one round trip (`MGET`).
    fn get_many<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<Found>>>;

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

    /// Sets `marks`, then deletes every member of the index set `set` (and each one's
    /// `companion`), then the set.
    fn delete_index<'a>(
        &'a self,
        set: &'a str,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> StoreFuture<'a, u64>;

    /// Sets `marks`, then deletes every key that starts with `prefix` (but the marks), on every
    /// node.
    fn delete_prefix<'a>(&'a self, prefix: &'a str, marks: Option<Marks>) -> StoreFuture<'a, u64>;

    /// Takes the lease `key` for `ttl` if nobody holds it: a lock that excludes every other
    /// holder until it is released or runs out.
    fn try_lock<'a>(&'a self, key: &'a str, token: &'a str, ttl: Duration)
        -> StoreFuture<'a, bool>;

    /// Releases the lease `key` if `token` still holds it.
    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> StoreFuture<'a, ()>;
}

/// The longest TTL written to a store: 100 years. Redis refuses an expiry whose deadline
/// (now + `PX`) overflows a signed 64-bit count of milliseconds, and refuses the whole write
/// with it; longer TTLs (a builder override, a TTL plus a stale window) are cut to this.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Microseconds, saturating: the unit of Redis stamps.
pub(crate) fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Milliseconds for a store command: at least 1, at most [`MAX_TTL`].
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.min(MAX_TTL).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
