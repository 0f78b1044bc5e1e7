//! The Redis store: one multiplexed connection shared by every caller, a deadline on every
//! operation and the outage [`Breaker`] in front of it.
//!
//! `redis`'s `ConnectionManager` owns the connection and replaces it in the background when it
//! breaks. Its defaults retry a reconnect with backoff inside the caller's request (about 9.5 s
//! per call while the server is down), so it is configured to make a single attempt, bounded by
//! the connect timeout, and every operation here is bounded again by the operation timeout.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};

use super::{Found, Store, StoreError, Write};
use crate::breaker::{Breaker, BreakerState, Transition};

/// Connection and resilience settings of the Redis store.
#[derive(Debug, Clone)]
pub(crate) struct RedisSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) breaker_threshold: u32,
    pub(crate) breaker_cool_down: Duration,
}

pub(crate) struct RedisStore {
    connection: ConnectionManager,
    operation_timeout: Duration,
    write_timeout: Duration,
    breaker: Breaker,
}

impl RedisStore {
    /// A store that connects lazily: no server is needed to create it.
    pub(crate) fn new(client: Client, settings: &RedisSettings) -> Result<Self, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.operation_timeout.max(settings.write_timeout)));
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            connection,
            operation_timeout: settings.operation_timeout,
            write_timeout: settings.write_timeout,
            breaker: Breaker::new(
                settings.breaker_threshold,
                settings.breaker_cool_down,
                settings.operation_timeout + settings.connect_timeout,
            ),
        })
    }

    pub(crate) fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Answers `PING` within the operation timeout.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.run(self.operation_timeout, |mut connection| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }

    /// Runs one operation under the breaker and the operation timeout.
    async fn run<T, F, Fut>(&self, timeout: Duration, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        if !self.breaker.allow() {
            return Err(StoreError::BreakerOpen);
        }
        let outcome = tokio::time::timeout(timeout, operation(self.connection.clone())).await;
        let (transition, result) = match outcome {
            Ok(Ok(value)) => (self.breaker.record_success(), Ok(value)),
            Ok(Err(error)) if is_outage(&error) => {
                (self.breaker.record_failure(), Err(StoreError::Redis(error)))
            }
            // The server answered (OOM, WRONGTYPE, a script error): it is up.
            Ok(Err(error)) => (self.breaker.record_success(), Err(StoreError::Redis(error))),
            Err(_) => (self.breaker.record_failure(), Err(StoreError::Timeout)),
        };
        match transition {
            Transition::Opened => tracing::warn!(
                "cache: Redis is failing; calls run uncached for the breaker's cool-down before it probes again"
            ),
            Transition::Closed => tracing::info!("cache: Redis answers again; caching resumed"),
            Transition::None => {}
        }
        result
    }
}

/// Errors that mean the server is unreachable or unhealthy, as opposed to a refused command.
fn is_outage(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
        || error.is_cluster_error()
}

/// Deletes the lease only if the caller's token still holds it.
const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Store for RedisStore {
    async fn get(&self, key: &str, with_remaining: bool) -> Result<Option<Found>, StoreError> {
        if !with_remaining {
            let value = self
                .run(self.operation_timeout, |mut connection| async move {
                    redis::cmd("GET")
                        .arg(key)
                        .query_async::<Option<Vec<u8>>>(&mut connection)
                        .await
                })
                .await?;
            return Ok(value.map(|value| Found {
                value: Bytes::from(value),
                remaining: None,
            }));
        }
        let (value, pttl) = self
            .run(self.operation_timeout, |mut connection| async move {
                redis::pipe()
                    .cmd("GET")
                    .arg(key)
                    .cmd("PTTL")
                    .arg(key)
                    .query_async::<(Option<Vec<u8>>, i64)>(&mut connection)
                    .await
            })
            .await?;
        Ok(value.map(|value| Found {
            value: Bytes::from(value),
            remaining: u64::try_from(pttl).ok().map(Duration::from_millis),
        }))
    }

    async fn set(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.run(self.write_timeout, |mut connection| async move {
            let mut pipe = redis::pipe();
            for write in &writes {
                pipe.cmd("SET")
                    .arg(&write.key)
                    .arg(&write.value[..])
                    .arg("PX")
                    .arg(millis(write.ttl))
                    .ignore();
            }
            pipe.query_async::<()>(&mut connection).await
        })
        .await
    }

    async fn try_lock(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.run(self.write_timeout, |mut connection| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async::<Option<String>>(&mut connection)
                .await
        })
        .await
        .map(|reply| reply.is_some())
    }

    async fn unlock(&self, key: &str, token: &str) -> Result<(), StoreError> {
        self.run(self.write_timeout, |mut connection| async move {
            redis::cmd("EVAL")
                .arg(UNLOCK)
                .arg(1)
                .arg(key)
                .arg(token)
                .query_async::<i64>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }
}
