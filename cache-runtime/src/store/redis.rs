//! The Redis store: one multiplexed connection shared by every caller, a deadline on every
//! operation and the outage [`Breaker`] in front of it.
//!
//! `redis`'s `ConnectionManager` owns the connection and replaces it in the background when it
//! breaks. Its defaults retry a reconnect with backoff inside the caller's request (about 9.5 s
//! per call while the server is down), so it is configured to make a single attempt, bounded by
//! the connect timeout, and every operation here is bounded again by the operation timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};

use super::{stale_key, Found, Index, Store, StoreError, Write};
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
    client: Client,
    config: ConnectionManagerConfig,
    /// Replaced by a fresh one when the breaker opens or a probe fails: `ConnectionManager`
    /// starts reconnecting only when a request sees its broken connection, so the first probe
    /// after an outage would fail on the old connection even with the server back.
    connection: ArcSwap<ConnectionManager>,
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
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
        Ok(Self {
            client,
            config,
            connection: ArcSwap::from_pointee(connection),
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

    /// Publishes `message` on `channel`.
    pub(crate) async fn publish(&self, channel: &str, message: &str) -> Result<(), StoreError> {
        self.run(self.write_timeout, |mut connection| async move {
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(message)
                .query_async::<i64>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }

    /// Runs one operation on the main connection under the breaker and `timeout`.
    async fn run<T, F, Fut>(&self, timeout: Duration, operation: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        self.run_on(self.connection(), timeout, operation).await
    }

    /// Deletes every member of the index set `set` (and its stale copy), then the set, showing
    /// each page of deleted members to `deleted_members` (the tiered store forwards them to
    /// other processes).
    pub(crate) async fn delete_index_members(
        &self,
        set: &str,
        mut deleted_members: impl FnMut(&[String]),
    ) -> Result<u64, StoreError> {
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, members) = self
                .run(self.operation_timeout, |mut connection| async move {
                    redis::cmd("SSCAN")
                        .arg(set)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(BATCH)
                        .query_async::<(u64, Vec<String>)>(&mut connection)
                        .await
                })
                .await?;
            if !members.is_empty() {
                let stale: Vec<String> = members.iter().map(|m| stale_key(m)).collect();
                let page = members.as_slice();
                let (entries, _) = self
                    .run(self.write_timeout, |mut connection| async move {
                        redis::pipe()
                            .cmd("UNLINK")
                            .arg(page)
                            .cmd("UNLINK")
                            .arg(&stale)
                            .query_async::<(u64, u64)>(&mut connection)
                            .await
                    })
                    .await?;
                deleted += entries;
                deleted_members(&members);
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        self.delete(vec![set.to_owned()]).await?;
        Ok(deleted)
    }

    /// The connections to every node that holds keys: one today; every master in a cluster.
    fn nodes(&self) -> Vec<ConnectionManager> {
        vec![self.connection()]
    }

    fn connection(&self) -> ConnectionManager {
        ConnectionManager::clone(&self.connection.load())
    }

    /// Starts over with a connection that connects on its next request.
    fn renew_connection(&self) {
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(connection) => self.connection.store(Arc::new(connection)),
            Err(error) => tracing::warn!(%error, "cache: could not renew the Redis connection"),
        }
    }

    /// Runs one operation on `connection` under the breaker and `timeout`.
    async fn run_on<T, F, Fut>(
        &self,
        connection: ConnectionManager,
        timeout: Duration,
        operation: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let probe = self.breaker.state() != BreakerState::Closed;
        if !self.breaker.allow() {
            return Err(StoreError::BreakerOpen);
        }
        let outcome = tokio::time::timeout(timeout, operation(connection)).await;
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
            Transition::Opened => {
                tracing::warn!(
                    "cache: Redis is failing; calls run uncached for the breaker's cool-down before it probes again"
                );
                self.renew_connection();
            }
            Transition::Closed => tracing::info!("cache: Redis answers again; caching resumed"),
            Transition::None if probe && result.is_err() => self.renew_connection(),
            Transition::None => {}
        }
        result
    }
}

/// Errors that mean the server is unreachable or unhealthy, as opposed to a refused command.
pub(crate) fn is_outage(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_unrecoverable_error()
        || error.is_cluster_error()
}

/// Deletes the lease only if the caller's token still holds it.
const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Keys per `SSCAN`/`SCAN` page and per `UNLINK`.
const BATCH: usize = 256;

/// Escapes the glob syntax of `SCAN MATCH` (`*`, `?`, `[`, `]`, `\`), so `text` matches only
/// itself. Key parts are escaped so that they never hold these; this is the second guard, at the
/// one place a pattern is built.
pub(crate) fn glob_escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

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
                typed: None,
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
            typed: None,
        }))
    }

    async fn set(&self, writes: Vec<Write>, index: Option<Index>) -> Result<(), StoreError> {
        self.run(self.write_timeout, |mut connection| async move {
            let mut pipe = redis::pipe();
            // Index memberships first: Redis checks `maxmemory` before each command, so a write
            // cut short under memory pressure leaves a member without an entry (harmless), never
            // an entry that no invalidation can reach.
            if let Some(index) = &index {
                let ttl = millis(index.ttl);
                for set in &index.sets {
                    pipe.cmd("SADD").arg(set).arg(&index.member).ignore();
                    // The set lives as long as its longest-lived member.
                    pipe.cmd("PEXPIRE").arg(set).arg(ttl).arg("NX").ignore();
                    pipe.cmd("PEXPIRE").arg(set).arg(ttl).arg("GT").ignore();
                }
            }
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

    async fn delete(&self, keys: Vec<String>) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let stale: Vec<String> = keys.iter().map(|key| stale_key(key)).collect();
        let (deleted, _) = self
            .run(self.write_timeout, |mut connection| async move {
                redis::pipe()
                    .cmd("UNLINK")
                    .arg(&keys)
                    .cmd("UNLINK")
                    .arg(&stale)
                    .query_async::<(u64, u64)>(&mut connection)
                    .await
            })
            .await?;
        Ok(deleted)
    }

    async fn delete_index(&self, set: &str) -> Result<u64, StoreError> {
        self.delete_index_members(set, |_| {}).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let mut pattern = String::with_capacity(prefix.len() + 8);
        glob_escape_into(&mut pattern, prefix);
        pattern.push('*');
        let mut deleted = 0;
        for node in self.nodes() {
            let mut cursor: u64 = 0;
            loop {
                let pattern = pattern.as_str();
                let (next, keys) = self
                    .run_on(
                        node.clone(),
                        self.operation_timeout,
                        |mut node| async move {
                            redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(pattern)
                                .arg("COUNT")
                                .arg(BATCH)
                                .query_async::<(u64, Vec<String>)>(&mut node)
                                .await
                        },
                    )
                    .await?;
                deleted += self.delete(keys).await?;
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(deleted)
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

#[cfg(test)]
mod tests {
    use super::glob_escape_into;

    #[test]
    fn glob_syntax_is_escaped() {
        let mut out = String::new();
        glob_escape_into(&mut out, r"a*b?c[d]e\f");
        assert_eq!(out, r"a\*b\?c\[d\]e\\f");
    }
}
