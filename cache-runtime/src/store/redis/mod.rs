//! The Redis store: one multiplexed connection shared by every caller, a deadline on every
//! operation and the outage [`Breaker`] in front of it.
//!
//! `redis`'s `ConnectionManager` owns the connection and replaces it in the background when it
//! breaks. Its defaults retry a reconnect with backoff inside the caller's request (about 9.5 s
//! per call while the server is down), so it is configured to make a single attempt, bounded by
//! the connect timeout, and every operation here is bounded again by the operation timeout.
//! What each store operation sends is in [`commands`].

mod commands;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};

use super::{is_outage, millis, Companion, Marks, Stamp, StoreError};
use crate::breaker::{Breaker, Transition};

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
        companion: Option<Companion>,
        marks: Option<&Marks>,
        mut deleted_members: impl FnMut(&[String]),
    ) -> Result<u64, StoreError> {
        self.marked(marks, self.walk_index(set, companion, &mut deleted_members))
            .await
    }

    async fn walk_index(
        &self,
        set: &str,
        companion: Option<Companion>,
        deleted_members: &mut impl FnMut(&[String]),
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
                deleted += self.unlink(&members, companion).await?;
                deleted_members(&members);
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        self.unlink(&[set.to_owned()], None).await?;
        Ok(deleted)
    }

    /// The server's clock (`TIME`), in microseconds.
    pub(crate) async fn time(&self) -> Result<Stamp, StoreError> {
        let (seconds, micros) = self
            .run(self.operation_timeout, |mut connection| async move {
                redis::cmd("TIME")
                    .query_async::<(u64, u64)>(&mut connection)
                    .await
            })
            .await?;
        Ok(seconds.saturating_mul(1_000_000).saturating_add(micros))
    }

    /// Sets `marks` to the server's time now (microseconds), for their TTL.
    /// Returns whether every mark was set: under `maxmemory` a mark can be refused while the
    /// deletion it precedes is not (deletions free memory); see [`RedisStore::marked`].
    pub(crate) async fn mark(&self, marks: &Marks) -> Result<bool, StoreError> {
        if marks.names.is_empty() {
            return Ok(true);
        }
        let set = self
            .run(self.write_timeout, |mut connection| async move {
                redis::cmd("EVAL")
                    .arg(MARK)
                    .arg(marks.names.len())
                    .arg(&marks.names)
                    .arg(millis(marks.ttl))
                    .query_async::<usize>(&mut connection)
                    .await
            })
            .await?;
        Ok(set == marks.names.len())
    }

    /// Runs `deletion` after setting `marks`; if Redis refused a mark (out of memory), sets the
    /// marks again once the deletion has freed memory. The invalidation itself never fails for
    /// want of memory for its marks.
    pub(crate) async fn marked<T, F>(
        &self,
        marks: Option<&Marks>,
        deletion: F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let Some(marks) = marks else {
            return deletion.await;
        };
        let set = self.mark(marks).await?;
        let deleted = deletion.await?;
        if !set && !self.mark(marks).await? {
            tracing::warn!("cache: Redis is out of memory: an invalidation was carried out without the marks that stop writes begun before it");
        }
        Ok(deleted)
    }

    /// `UNLINK`s `keys` and their companions in one round trip; how many of `keys` existed.
    async fn unlink(
        &self,
        keys: &[String],
        companion: Option<Companion>,
    ) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let companions: Vec<String> = companion
            .map(|companion| keys.iter().map(|key| companion(key)).collect())
            .unwrap_or_default();
        self.run(self.write_timeout, |mut connection| async move {
            let mut pipe = redis::pipe();
            pipe.cmd("UNLINK").arg(keys);
            if !companions.is_empty() {
                pipe.cmd("UNLINK").arg(&companions).ignore();
            }
            pipe.query_async::<(u64,)>(&mut connection)
                .await
                .map(|(deleted,)| deleted)
        })
        .await
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
        let Some(permit) = self.breaker.allow() else {
            return Err(StoreError::BreakerOpen);
        };
        let outcome = tokio::time::timeout(timeout, operation(connection)).await;
        let (transition, result) = match outcome {
            Ok(Ok(value)) => (self.breaker.record_success(permit), Ok(value)),
            Ok(Err(error)) if is_outage(&error) => (
                self.breaker.record_failure(permit),
                Err(StoreError::Redis(error)),
            ),
            // The server answered (OOM, WRONGTYPE, a script error): it is up.
            Ok(Err(error)) => (
                self.breaker.record_success(permit),
                Err(StoreError::Redis(error)),
            ),
            Err(_) => (
                self.breaker.record_failure(permit),
                Err(StoreError::Timeout),
            ),
        };
        match transition {
            Transition::Opened => {
                tracing::warn!(
                    "cache: Redis is failing; calls run uncached for the breaker's cool-down before it probes again"
                );
                self.renew_connection();
            }
            Transition::Closed => tracing::info!("cache: Redis answers again; caching resumed"),
            Transition::None if permit.is_probe() && result.is_err() => self.renew_connection(),
            Transition::None => {}
        }
        result
    }
}

/// Sets every key to the server's time in microseconds, for `ARGV[1]` milliseconds: the marks an
/// invalidation leaves for writes that began before it (see `WRITE`).
pub(super) const MARK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local set = 0
for _, key in ipairs(KEYS) do
  local reply = redis.pcall('SET', key, now, 'PX', ARGV[1])
  if type(reply) == 'table' and reply.ok then set = set + 1 end
end
return set
";

/// A guarded write, all or nothing. KEYS: the guard's marks (`ARGV[1]` of them), then per write
/// its key and its index sets. ARGV: the number of marks, the server time (µs) before the value
/// began to be computed, the marks' lifetime (µs), the number of writes, then per write: value,
/// TTL (ms), number of index sets, index TTL (ms). Refused (0) when a mark was set at or after
/// that time, or when it is too long ago for the marks to tell. Index memberships go before the
/// entry: Redis checks `maxmemory` before each write command, so a write cut short leaves a
/// member without an entry (harmless), never an entry that no invalidation can reach.
pub(super) const WRITE: &str = r"
local marks = tonumber(ARGV[1])
if marks > 0 then
  local began = tonumber(ARGV[2])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if now - began >= tonumber(ARGV[3]) then return 0 end
  for i = 1, marks do
    local at = redis.call('GET', KEYS[i])
    if at and tonumber(at) >= began then return 0 end
  end
end
local k, a = marks + 1, 5
for _ = 1, tonumber(ARGV[4]) do
  local key, sets = KEYS[k], tonumber(ARGV[a + 2])
  for s = 1, sets do
    redis.call('SADD', KEYS[k + s], key)
    redis.call('PEXPIRE', KEYS[k + s], ARGV[a + 3], 'NX')
    redis.call('PEXPIRE', KEYS[k + s], ARGV[a + 3], 'GT')
  end
  redis.call('SET', key, ARGV[a], 'PX', ARGV[a + 1])
  k = k + 1 + sets
  a = a + 4
end
return 1
";

/// Deletes the lease only if the caller's token still holds it.
pub(super) const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Keys per `SSCAN`/`SCAN` page and per `UNLINK`.
pub(super) const BATCH: usize = 256;

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
