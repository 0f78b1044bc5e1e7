//! Where entries live. The engine is written against [`Store`]; [`Backend`] picks one at
//! start-up: the in-process store or Redis.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

pub(crate) mod memory;
pub(crate) mod redis;
pub(crate) mod tiered;

pub(crate) use self::memory::MemoryStore;
pub(crate) use self::redis::RedisStore;
pub(crate) use self::tiered::TieredStore;
use crate::breaker::BreakerState;

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
}

impl StoreError {
    /// Whether the store is unreachable (as opposed to refusing one command).
    pub(crate) fn is_outage(&self) -> bool {
        match self {
            StoreError::BreakerOpen | StoreError::Timeout => true,
            StoreError::Redis(error) => redis::is_outage(error),
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::BreakerOpen => f.write_str("breaker open"),
            StoreError::Timeout => f.write_str("timed out"),
            StoreError::Redis(error) => write!(f, "{error}"),
        }
    }
}

/// A stored value and how long it has left to live, when the store was asked.
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

/// One entry to write.
pub(crate) struct Write {
    pub(crate) key: String,
    pub(crate) value: Bytes,
    pub(crate) ttl: Duration,
    /// The decoded value, for in-process stores; remote stores ignore it.
    pub(crate) typed: Option<Typed>,
}

/// The index sets a written entry joins (see `invalidation`), for as long as `ttl`.
pub(crate) struct Index {
    pub(crate) member: String,
    pub(crate) sets: Vec<String>,
    pub(crate) ttl: Duration,
}

/// The operations the get-or-set engine needs from a store.
pub(crate) trait Store: Send + Sync {
    /// The bytes stored at `key`, if any and not expired; with `remaining` set when
    /// `with_remaining` asks for the time the entry has left.
    fn get(
        &self,
        key: &str,
        with_remaining: bool,
    ) -> impl Future<Output = Result<Option<Found>, StoreError>> + Send;
    /// Stores every entry with its TTL and adds `index.member` to the index sets, in one round
    /// trip where the store has them.
    fn set(
        &self,
        writes: Vec<Write>,
        index: Option<Index>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes `keys` and their stale copies, in one round trip where the store has them;
    /// returns how many of `keys` existed.
    fn delete(&self, keys: Vec<String>) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Deletes every member of the index set `set` (and its stale copy), then the set.
    fn delete_index(&self, set: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Deletes every key that starts with `prefix`, on every node.
    fn delete_prefix(&self, prefix: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Takes the lease `key` for `ttl` if nobody holds it: a cross-process lock.
    fn try_lock(
        &self,
        key: &str,
        token: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Releases the lease `key` if `token` still holds it.
    fn unlock(&self, key: &str, token: &str)
        -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where the copy kept for `stale_if_error` lives: beside the entry, for TTL + window.
pub(crate) fn stale_key(key: &str) -> String {
    format!("{key}#stale")
}

/// The store chosen at start-up.
pub(crate) enum Backend {
    Memory(MemoryStore),
    Redis(RedisStore),
    Tiered(TieredStore),
}

impl Backend {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
            Backend::Tiered(_) => "redis+local",
        }
    }

    pub(crate) fn breaker_state(&self) -> BreakerState {
        match self {
            Backend::Memory(_) => BreakerState::Closed,
            Backend::Redis(store) => store.breaker_state(),
            Backend::Tiered(store) => store.remote().breaker_state(),
        }
    }
}

impl Backend {
    /// [`Store::get`], letting a store that copies entries in-process keep them decoded.
    pub(crate) async fn get_decoded(
        &self,
        key: &str,
        with_remaining: bool,
        decode: Option<DecodeTyped>,
    ) -> Result<Option<Found>, StoreError> {
        match self {
            Backend::Tiered(store) => store.get_decoded(key, with_remaining, decode).await,
            _ => self.get(key, with_remaining).await,
        }
    }
}

impl Store for Backend {
    async fn get(&self, key: &str, with_remaining: bool) -> Result<Option<Found>, StoreError> {
        match self {
            Backend::Memory(store) => store.get(key, with_remaining).await,
            Backend::Redis(store) => store.get(key, with_remaining).await,
            Backend::Tiered(store) => store.get(key, with_remaining).await,
        }
    }

    async fn set(&self, writes: Vec<Write>, index: Option<Index>) -> Result<(), StoreError> {
        match self {
            Backend::Memory(store) => store.set(writes, index).await,
            Backend::Redis(store) => store.set(writes, index).await,
            Backend::Tiered(store) => store.set(writes, index).await,
        }
    }

    async fn delete(&self, keys: Vec<String>) -> Result<u64, StoreError> {
        match self {
            Backend::Memory(store) => store.delete(keys).await,
            Backend::Redis(store) => store.delete(keys).await,
            Backend::Tiered(store) => store.delete(keys).await,
        }
    }

    async fn delete_index(&self, set: &str) -> Result<u64, StoreError> {
        match self {
            Backend::Memory(store) => store.delete_index(set).await,
            Backend::Redis(store) => store.delete_index(set).await,
            Backend::Tiered(store) => store.delete_index(set).await,
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        match self {
            Backend::Memory(store) => store.delete_prefix(prefix).await,
            Backend::Redis(store) => store.delete_prefix(prefix).await,
            Backend::Tiered(store) => store.delete_prefix(prefix).await,
        }
    }

    async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Backend::Memory(store) => store.try_lock(key, token, ttl).await,
            Backend::Redis(store) => store.try_lock(key, token, ttl).await,
            Backend::Tiered(store) => store.try_lock(key, token, ttl).await,
        }
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<(), StoreError> {
        match self {
            Backend::Memory(store) => store.unlock(key, token).await,
            Backend::Redis(store) => store.unlock(key, token).await,
            Backend::Tiered(store) => store.unlock(key, token).await,
        }
    }
}
