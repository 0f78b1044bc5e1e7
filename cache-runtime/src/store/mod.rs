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

/// The operations the get-or-set engine needs from a store.
pub(crate) trait Store: Send + Sync {
    /// The bytes stored at `key`, if any and not expired.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send;
    /// Stores `value` at `key` for `ttl`.
    fn set(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
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
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self {
            Backend::Memory(store) => store.get(key).await,
            Backend::Redis(store) => store.get(key).await,
        }
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), StoreError> {
        match self {
            Backend::Memory(store) => store.set(key, value, ttl).await,
            Backend::Redis(store) => store.set(key, value, ttl).await,
        }
    }
}
