//! The Redis store: one multiplexed connection shared by every caller (or the cluster client,
//! see [`connection`]), a deadline on every operation and the outage [`Breaker`] in front of it.
//!
//! `redis`'s `ConnectionManager` owns the connection and replaces it in the background when it
//! breaks. Its defaults retry a reconnect with backoff inside the caller's request (about 9.5 s
//! per call while the server is down), so it is configured to make a single attempt, bounded by
//! the connect timeout, and every operation here is bounded again by the operation timeout.
//! What each store operation sends is in [`commands`].

mod commands;
pub(crate) mod connection;
mod direct;
mod generation;
mod info;
mod scripts;
mod server;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use redis::RedisError;

use self::connection::{Connection, Connector};
pub(crate) use self::server::Refusal;
use self::server::{connection_problem, ServerState};
use super::{is_outage, StoreError};
use crate::breaker::{Breaker, Transition};
use crate::metrics::StoreStats;

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
    connector: Connector,
    /// Replaced by a fresh one when the breaker opens or a probe fails: `ConnectionManager`
    /// starts reconnecting only when a request sees its broken connection, so the first probe
    /// after an outage would fail on the old connection even with the server back.
    connection: ArcSwap<Connection>,
    operation_timeout: Duration,
    write_timeout: Duration,
    connect_timeout: Duration,
    breaker: Breaker,
    /// The server's version and what is wrong with the connection, if anything.
    server: ServerState,
    /// The database number of the URL, for messages.
    db: i64,
    /// How long a server refused for its version is left alone before it is read again.
    recheck: Duration,
    /// Generation keys this process extended lately, and until when.
    extended: moka::sync::Cache<String, std::time::Instant>,
}

impl RedisStore {
    /// A store that connects lazily: no server is needed to create it.
    pub(crate) fn new(connector: Connector, settings: &RedisSettings) -> Result<Self, RedisError> {
        let connection = connector.connect()?;
        let db = connector.db();
        Ok(Self {
            connector,
            connection: ArcSwap::from_pointee(connection),
            operation_timeout: settings.operation_timeout,
            write_timeout: settings.write_timeout,
            connect_timeout: settings.connect_timeout,
            breaker: Breaker::new(
                settings.breaker_threshold,
                settings.breaker_cool_down,
                settings.operation_timeout + settings.connect_timeout,
            ),
            server: ServerState::default(),
            db,
            recheck: settings.breaker_cool_down,
            extended: moka::sync::Cache::builder()
                .max_capacity(EXTENDED)
                .time_to_live(generation::LIFETIME / 4)
                .build(),
        })
    }

    /// Whether the store talks to a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        self.connector.is_cluster()
    }

    /// The server's version, and what keeps the store from using it, if anything.
    pub(crate) fn server_stats(&self) -> StoreStats {
        StoreStats {
            redis_version: self.server.version(),
            refused: self.server.current_refusal(),
            connection_problem: self.server.current_problem(),
            ..StoreStats::default()
        }
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
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        self.run_on(self.connection(), timeout, operation).await
    }

    /// `UNLINK`s `keys` in one round trip; how many existed.
    async fn unlink(&self, keys: &[String]) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.run(self.write_timeout, |mut connection| async move {
            redis::cmd("UNLINK")
                .arg(keys)
                .query_async::<u64>(&mut connection)
                .await
        })
        .await
    }

    /// The connections to every node that holds keys: the server, or every master of a cluster
    /// (asked under the breaker and the operation timeout).
    async fn nodes(&self) -> Result<Vec<Connection>, StoreError> {
        self.run(self.operation_timeout, |connection| async move {
            connection.nodes().await
        })
        .await
    }

    /// One page of `SCAN cursor MATCH pattern` on `node`: the next cursor and the keys.
    async fn scan_page(
        &self,
        node: &Connection,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<String>), StoreError> {
        self.run_on(
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
        .await
    }

    fn connection(&self) -> Connection {
        Connection::clone(&self.connection.load())
    }

    /// Starts over with a connection that connects on its next request.
    fn renew_connection(&self) {
        match self.connector.connect() {
            Ok(connection) => {
                self.connection.store(Arc::new(connection));
                self.server.reconnected();
            }
            Err(error) => tracing::warn!(%error, "cache: could not renew the Redis connection"),
        }
    }

    /// Runs one operation on `connection` under the breaker and `timeout`.
    async fn run_on<T, F, Fut>(
        &self,
        connection: Connection,
        timeout: Duration,
        operation: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        if let Some(refusal) = self.server.refused() {
            return Err(StoreError::Refused(refusal));
        }
        let Some(permit) = self.breaker.allow() else {
            return Err(StoreError::BreakerOpen);
        };
        let check = self.server.needs_check();
        let outcome = tokio::time::timeout(timeout, async {
            // A new connection: read its server's version before the first write through it.
            if check {
                if let Err(refusal) = self.check_server(connection.clone()).await? {
                    return Ok(Err(refusal));
                }
            }
            operation(connection).await.map(Ok)
        })
        .await;
        let (transition, result) = match outcome {
            Ok(Ok(Ok(value))) => {
                self.server.healthy();
                (self.breaker.record_success(permit), Ok(value))
            }
            Ok(Ok(Err(refusal))) => (
                self.breaker.record_success(permit),
                Err(StoreError::Refused(refusal)),
            ),
            Ok(Err(error)) => match self.problem_of(&error).await {
                // The server refuses the connection itself: that never heals by itself, so it
                // counts as an outage, and the connection is rebuilt on each probe.
                Some(problem) => {
                    self.server.problem(problem);
                    (
                        self.breaker.record_failure(permit),
                        Err(StoreError::Redis(error)),
                    )
                }
                None if is_outage(&error) => (
                    self.breaker.record_failure(permit),
                    Err(StoreError::Redis(error)),
                ),
                // The server answered (OOM, WRONGTYPE, a script error): it is up.
                None => {
                    self.server.healthy();
                    (
                        self.breaker.record_success(permit),
                        Err(StoreError::Redis(error)),
                    )
                }
            },
            Err(_) => (
                self.breaker.record_failure(permit),
                Err(StoreError::Timeout),
            ),
        };
        match transition {
            Transition::Opened => {
                match self.server.current_problem() {
                    Some(problem) => tracing::error!(
                        %problem,
                        "cache: Redis refuses the connection; calls run uncached, and the connection is rebuilt on each probe until it is fixed"
                    ),
                    None => tracing::warn!(
                        "cache: Redis is failing; calls run uncached for the breaker's cool-down before it probes again"
                    ),
                }
                self.renew_connection();
            }
            Transition::Closed => tracing::info!("cache: Redis answers again; caching resumed"),
            Transition::None if permit.is_probe() && result.is_err() => self.renew_connection(),
            Transition::None => {}
        }
        result
    }
}

impl RedisStore {
    /// What is wrong with the connection itself when `error` says so. The cluster client does
    /// not pass on why it could connect to no node (a wrong password reads as "no connections
    /// found"): then one node is asked directly, within the connect timeout.
    async fn problem_of(&self, error: &RedisError) -> Option<String> {
        if let Some(problem) = connection_problem(error, self.db) {
            return Some(problem);
        }
        if error.kind() != redis::ErrorKind::ClusterConnectionNotFound {
            return None;
        }
        let refusal = self
            .connector
            .connect_to_a_node(self.connect_timeout)
            .await?;
        connection_problem(&refusal, self.db)
    }

    /// Reads the server's version with `INFO server`: a refusal if it is too old to write to.
    /// A server that does not answer `INFO` with its version (a proxy, an ACL without `INFO`)
    /// is assumed to be recent enough.
    async fn check_server(
        &self,
        connection: Connection,
    ) -> Result<Result<(), Refusal>, RedisError> {
        // On a cluster: one master's (they run one version, and `INFO` to all of them answers
        // with a map).
        let mut connection = if self.is_cluster() {
            let first = connection.nodes().await?.into_iter().next();
            first.unwrap_or(connection)
        } else {
            connection
        };
        match redis::cmd("INFO")
            .arg("server")
            .query_async::<String>(&mut connection)
            .await
        {
            Ok(info) => Ok(self.server.record_info(&info, self.recheck)),
            Err(error) if is_outage(&error) || connection_problem(&error, self.db).is_some() => {
                Err(error)
            }
            Err(_) => {
                self.server.version_unknown();
                Ok(Ok(()))
            }
        }
    }
}

/// How many generation keys a process remembers extending.
const EXTENDED: u64 = 10_000;

/// Keys per `SCAN` page and per `UNLINK`.
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
