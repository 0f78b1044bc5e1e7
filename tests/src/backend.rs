//! One behaviour suite over both Redis deployments: a single server and a cluster.
//!
//! A test written as `async fn name(backend: Backend)` builds its cache with
//! [`Backend::cache`] (or [`Backend::builder`] for more settings), checks what Redis holds through
//! [`Backend::connection`] and [`Backend::keys`], and names exact keys with [`Backend::key`]:
//! on a cluster every key the cache writes carries a hash tag. [`backend_tests!`](crate::backend_tests) registers the
//! test twice, as `single::name` and `cluster::name`, so `cargo test single` or `cargo test
//! cluster` runs one side.
//!
//! The two variants of one test share its statics (the cached functions and their run
//! counters): they take turns ([`turn`]), and a test that counts in a static resets it first.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use cache_runtime::{Cache, CacheBuilder};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::{RedisCluster, RedisServer};

/// The Redis a test runs against, started for that test alone.
pub enum Backend {
    Single(RedisServer),
    Cluster(RedisCluster),
}

impl Backend {
    /// A fresh `redis-server`.
    pub fn single() -> Self {
        Backend::Single(RedisServer::start())
    }

    /// A fresh three-master cluster with one replica each.
    pub fn cluster() -> Self {
        Backend::Cluster(RedisCluster::start())
    }

    /// Which one, for messages: `single` or `cluster`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Single(_) => "single",
            Backend::Cluster(_) => "cluster",
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Backend::Cluster(_))
    }

    /// A builder pointed at this Redis, otherwise with the defaults.
    pub fn builder(&self) -> CacheBuilder {
        match self {
            Backend::Single(server) => CacheBuilder::new().redis_url(server.url()),
            Backend::Cluster(cluster) => CacheBuilder::new().cluster_nodes(cluster.urls()),
        }
    }

    /// A cache on this Redis with the default settings; panics with the log if it fails.
    pub async fn cache(&self) -> Cache {
        self.build(self.builder()).await
    }

    /// Builds `builder`; panics with the log if it fails.
    pub async fn build(&self, builder: CacheBuilder) -> Cache {
        builder
            .build()
            .await
            .unwrap_or_else(|e| panic!("build the cache on {}: {e}\n{}", self.name(), self.log()))
    }

    /// A connection for the test's own checks; a cluster connection follows redirections.
    pub async fn connection(&self) -> Raw {
        match self {
            Backend::Single(server) => Raw::Single(server.connection().await),
            Backend::Cluster(cluster) => Raw::Cluster(cluster.connection().await),
        }
    }

    /// Every key, on every master of a cluster, sorted.
    pub async fn keys(&self) -> Vec<String> {
        match self {
            Backend::Single(server) => {
                crate::inspect::scan_keys(&mut server.connection().await).await
            }
            Backend::Cluster(cluster) => cluster.keys().await,
        }
    }

    /// Every key starting with `prefix` (a tenant's, a function's), sorted.
    pub async fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut keys = self.keys().await;
        keys.retain(|key| key.starts_with(prefix));
        keys
    }

    /// The keys that hold cache entries or their companions: every key but the invalidation
    /// bookkeeping ([`is_bookkeeping`]), sorted.
    pub async fn entry_keys(&self) -> Vec<String> {
        let mut keys = self.keys().await;
        keys.retain(|key| !is_bookkeeping(key));
        keys
    }

    /// The name the cache gives the key `name` (`v1:_:quote:7203`, `…#stale`, `…#lock`) in this
    /// backend: `name` itself on one server; on a cluster, `name` with the hash tag of its
    /// shard.
    pub fn key(&self, name: &str) -> String {
        match self {
            Backend::Single(_) => name.to_owned(),
            Backend::Cluster(_) => cache_runtime::cluster_key(name),
        }
    }

    /// The server's log, or every node's.
    pub fn log(&self) -> String {
        match self {
            Backend::Single(server) => server.log(),
            Backend::Cluster(cluster) => cluster.log(),
        }
    }
}

/// `name` without the hash tag a cluster key ends with (`v1:gen{…}` → `v1:gen`).
pub fn untagged(name: &str) -> &str {
    match name.rfind('{') {
        Some(open) if name.ends_with('}') => &name[..open],
        _ => name,
    }
}

/// Whether `key` is invalidation bookkeeping rather than an entry: the generations (`v1:gen`,
/// `v1:gen:…`) and the index sets (`v1:idx:…`), with or without a cluster's hash tag.
pub fn is_bookkeeping(key: &str) -> bool {
    let key = untagged(key);
    key == "v1:gen" || key.starts_with("v1:gen:") || key.starts_with("v1:idx:")
}

/// The test's own connection to either backend; commands are written the same way for both
/// (`redis::cmd("GET").arg(key).query_async(&mut raw)`).
#[derive(Clone)]
pub enum Raw {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Raw {
    /// The bytes at `key`, read with a plain `GET`.
    pub async fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        redis::cmd("GET")
            .arg(key)
            .query_async(self)
            .await
            .unwrap_or_else(|e| panic!("GET {key}: {e}"))
    }

    /// The value of the entry at `key`, out of its envelope (see
    /// [`crate::inspect::get_entry`]); `None` when the key holds no entry.
    pub async fn entry(&mut self, key: &str) -> Option<Vec<u8>> {
        crate::inspect::entry_value(&self.get(key).await?)
    }

    /// `PTTL key` in milliseconds.
    pub async fn pttl(&mut self, key: &str) -> i64 {
        redis::cmd("PTTL")
            .arg(key)
            .query_async(self)
            .await
            .unwrap_or_else(|e| panic!("PTTL {key}: {e}"))
    }
}

impl ConnectionLike for Raw {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Raw::Single(connection) => connection.req_packed_command(cmd),
            Raw::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Raw::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Raw::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Raw::Single(connection) => connection.get_db(),
            Raw::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Waits for the turn of the test `name`: its `single` and `cluster` variants run one after the
/// other, never at once, because they share the test's statics. Hold the guard for the test.
pub async fn turn(name: &'static str) -> tokio::sync::OwnedMutexGuard<()> {
    /// One lock per test name.
    type Turns = HashMap<&'static str, Arc<tokio::sync::Mutex<()>>>;
    static TURNS: LazyLock<Mutex<Turns>> = LazyLock::new(Mutex::default);
    let lock = Arc::clone(
        TURNS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(name)
            .or_default(),
    );
    lock.lock_owned().await
}

/// Registers each `async fn name(backend: Backend)` of the calling module as two tests,
/// `single::name` on a fresh server and `cluster::name` on a fresh cluster; the two take turns
/// (see [`turn`]). `backend_tests!(multi_thread: a, b)` runs them on a two-worker runtime.
/// One invocation per module.
#[macro_export]
macro_rules! backend_tests {
    (multi_thread: $($test:ident),+ $(,)?) => {
        $crate::backend_tests!(@each single, tokio::test(flavor = "multi_thread", worker_threads = 2), $($test),+);
        $crate::backend_tests!(@each cluster, tokio::test(flavor = "multi_thread", worker_threads = 2), $($test),+);
    };
    ($($test:ident),+ $(,)?) => {
        $crate::backend_tests!(@each single, tokio::test, $($test),+);
        $crate::backend_tests!(@each cluster, tokio::test, $($test),+);
    };
    (@each $backend:ident, $runtime:meta, $($test:ident),+) => {
        mod $backend {
            $(
                #[$runtime]
                async fn $test() {
                    let _turn =
                        $crate::backend::turn(concat!(file!(), "::", stringify!($test))).await;
                    super::$test($crate::Backend::$backend()).await
                }
            )+
        }
    };
}
