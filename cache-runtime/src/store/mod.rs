//! Where entries live. The engine is written against [`Store`]; [`Backend`] picks one at
//! start-up: the in-process store or Redis.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

pub(crate) mod memory;
pub(crate) mod redis;

pub(crate) use self::memory::MemoryStore;
pub(crate) use self::redis::RedisStore;
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
}

/// One entry to write.
pub(crate) struct Write {
    pub(crate) key: String,
    pub(crate) value: Bytes,
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
    /// Stores every entry with its TTL, in one round trip where the store has them.
    fn set(&self, writes: Vec<Write>) -> impl Future<Output = Result<(), StoreError>> + Send;
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

/// The store chosen at start-up.
pub(crate) enum Backend {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Backend {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    pub(crate) fn breaker_state(&self) -> BreakerState {
        match self {
            Backend::Memory(_) => BreakerState::Closed,
            Backend::Redis(store) => store.breaker_state(),
        }
    }
}

impl Store for Backend {
    async fn get(&self, key: &str, with_remaining: bool) -> Result<Option<Found>, StoreError> {
        match self {
            Backend::Memory(store) => store.get(key, with_remaining).await,
            Backend::Redis(store) => store.get(key, with_remaining).await,
        }
    }

    async fn set(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        match self {
            Backend::Memory(store) => store.set(writes).await,
            Backend::Redis(store) => store.set(writes).await,
        }
    }

    async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Backend::Memory(store) => store.try_lock(key, token, ttl).await,
            Backend::Redis(store) => store.try_lock(key, token, ttl).await,
        }
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<(), StoreError> {
        match self {
            Backend::Memory(store) => store.unlock(key, token).await,
            Backend::Redis(store) => store.unlock(key, token).await,
        }
    }
}
