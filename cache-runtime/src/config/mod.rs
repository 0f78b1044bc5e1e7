//! Configuration from the environment and from [`CacheBuilder`]. Every variable, its default and
//! the forms it accepts are in the README's Configuration table; `known` lists the names, `env`
//! parses them, `duration` reads durations (`600`, `10m`, `1h30m`, `250ms`), `tls` the TLS files.

use std::time::Duration;

mod duration;
mod env;
mod error;
mod known;
mod tls;
mod url;

pub use self::error::ConfigError;
use self::error::Setting;
use self::tls::TlsFiles;
use self::url::{cluster_client, redact, redis_client};
use crate::cache::Cache;
use crate::codec::{Codec, Format};
use crate::engine::Engine;
use crate::key::{KeyLayout, DEFAULT_KEY_BYTES, MAX_PREFIX, MIN_KEY_BYTES};
use crate::policy::{TtlOverrides, TtlPolicy};
use crate::store::memory::MemoryStore;
use crate::store::redis::connection::Connector;
use crate::store::redis::{RedisSettings, RedisStore};
use crate::store::tiered::TieredStore;
use crate::store::{Store, StoreError};

/// Builds a [`Cache`]. Starts from the defaults; [`CacheBuilder::from_env`] starts from the
/// environment instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_runtime::ConfigError> {
/// use std::time::Duration;
/// use cache_runtime::{CacheBuilder, Policy};
///
/// let cache = CacheBuilder::new()
///     .prefix("billing-v2")
///     .ttl(&Policy::AiAnalysis, Duration::from_secs(600))
///     .build()
///     .await?;
/// assert_eq!(cache.stats().backend, "memory");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheBuilder {
    enabled: bool,
    redis_url: Option<Setting<String>>,
    cluster_nodes: Option<Setting<Vec<String>>>,
    prefix: Setting<String>,
    operation_timeout: Duration,
    write_timeout: Duration,
    connect_timeout: Setting<Duration>,
    health_check_interval: Option<Duration>,
    tls: TlsFiles,
    breaker_threshold: u32,
    breaker_cool_down: Duration,
    max_value_bytes: usize,
    memory_max_bytes: u64,
    max_key_bytes: Setting<usize>,
    local_ttl: Option<Duration>,
    overrides: TtlOverrides,
    allow_flush: bool,
    codec: Codec,
    compress_above: Option<Setting<usize>>,
}

impl Default for CacheBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl CacheBuilder {
    /// The defaults: in-process store, prefix `v1`, the timeouts in the table above.
    pub fn new() -> Self {
        Self {
            enabled: true,
            redis_url: None,
            cluster_nodes: None,
            prefix: Setting {
                value: "v1".to_owned(),
                origin: "CacheBuilder::prefix",
            },
            operation_timeout: Duration::from_millis(250),
            write_timeout: Duration::from_millis(250),
            connect_timeout: Setting {
                value: Duration::from_millis(500),
                origin: "CacheBuilder::connect_timeout",
            },
            health_check_interval: None,
            tls: TlsFiles::default(),
            breaker_threshold: 3,
            breaker_cool_down: Duration::from_secs(2),
            max_value_bytes: 1 << 20,
            memory_max_bytes: 64 << 20,
            max_key_bytes: Setting {
                value: DEFAULT_KEY_BYTES,
                origin: "CacheBuilder::max_key_bytes",
            },
            local_ttl: None,
            overrides: TtlOverrides::default(),
            allow_flush: false,
            codec: Codec::Json,
            compress_above: None,
        }
    }

    /// Use Redis at `url` instead of the in-process store.
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(Setting {
            value: url.into(),
            origin: "CacheBuilder::redis_url",
        });
        self
    }

    /// Use the Redis Cluster that `nodes` belong to (`redis://host:port`, `rediss://…` or bare
    /// `host:port`; one reachable node is enough, the client learns the others), instead of the
    /// in-process store or a single server. The `redis` crate's cluster client routes each
    /// command to the master of its slot and follows redirections and failovers; keys carry a
    /// hash tag (see the README's key layout). Wins over [`CacheBuilder::redis_url`].
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_runtime::ConfigError> {
    /// let cache = cache_runtime::CacheBuilder::new()
    ///     .cluster_nodes(["redis://node1:6379", "redis://node2:6379", "node3:6379"])
    ///     .build()
    ///     .await?;
    /// assert_eq!(cache.stats().backend, "redis");
    /// # Ok(()) }
    /// ```
    pub fn cluster_nodes<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cluster_nodes = Some(Setting {
            value: nodes.into_iter().map(Into::into).collect(),
            origin: "CacheBuilder::cluster_nodes",
        });
        self
    }

    /// Use the in-process store, even if a Redis URL or cluster nodes were set.
    pub fn in_process(mut self) -> Self {
        self.redis_url = None;
        self.cluster_nodes = None;
        self
    }

    /// `false`: every `#[cached]` function runs uncached.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// The first segment of every key (default `v1`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Setting {
            value: prefix.into(),
            origin: "CacheBuilder::prefix",
        };
        self
    }

    /// The deadline of one Redis read (default 250 ms).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The deadline of one Redis write (default 250 ms): the longest a caller waits for the
    /// store after its function returned.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// The deadline of one connection attempt (default 500 ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Setting {
            value: timeout,
            origin: "CacheBuilder::connect_timeout",
        };
        self
    }

    /// With Redis: send `PING` every `interval` in the background, under the breaker, so that
    /// an outage opens it (and its end closes it) without a call having to wait on Redis first.
    /// Off by default.
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.health_check_interval = Some(interval);
        self
    }

    /// With a `rediss://` URL: trust the CA certificate(s) in the PEM file at `path` instead of
    /// the system's roots.
    pub fn tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca = Some(Setting {
            value: path.into(),
            origin: "CacheBuilder::tls_ca_file",
        });
        self
    }

    /// With a `rediss://` URL: present the client certificate in the PEM file `cert`, with its
    /// private key in `key`, to servers that ask for one (`tls-auth-clients yes`).
    pub fn tls_client_certificate(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.tls.cert = Some(Setting {
            value: cert.into(),
            origin: "CacheBuilder::tls_client_certificate",
        });
        self.tls.key = Some(Setting {
            value: key.into(),
            origin: "CacheBuilder::tls_client_certificate",
        });
        self
    }

    /// Open the breaker after `threshold` consecutive failures, for `cool_down` (default 3, 2 s).
    pub fn breaker(mut self, threshold: u32, cool_down: Duration) -> Self {
        self.breaker_threshold = threshold;
        self.breaker_cool_down = cool_down;
        self
    }

    /// Results whose encoding (before compression) is larger than this are returned but not
    /// stored (default 1 MiB). Compressed entries that would decompress past it are misses.
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// The bound of the in-process store or local tier (default 64 MiB): what its entries hold,
    /// keys, JSON, decoded copies, index memberships and per-entry bookkeeping.
    pub fn memory_max_bytes(mut self, bytes: u64) -> Self {
        self.memory_max_bytes = bytes;
        self
    }

    /// Keys and index names longer than this (default 512 bytes, at least 256) keep a readable
    /// head and end in the SHA-256 of the whole name; tenant segments longer than 96 bytes too.
    pub fn max_key_bytes(mut self, bytes: usize) -> Self {
        self.max_key_bytes = Setting {
            value: bytes,
            origin: "CacheBuilder::max_key_bytes",
        };
        self
    }

    /// With Redis: keep an in-process copy of each hit for at most `ttl` (never past the entry's
    /// Redis TTL). Invalidations in any process drop the copies in every process (Redis pub/sub).
    pub fn local_tier(mut self, ttl: Duration) -> Self {
        self.local_ttl = Some(ttl);
        self
    }

    /// The codec of functions whose attribute names none (default [`Codec::Json`]). Entries
    /// written in another codec are misses, counted as `codec_mismatch`, and overwritten.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Compress (LZ4) encodings longer than `bytes`, for functions whose attribute has no
    /// `compress_above` (default: never). Needs the `compress` feature.
    pub fn compress_above(mut self, bytes: usize) -> Self {
        self.compress_above = Some(Setting {
            value: bytes,
            origin: "CacheBuilder::compress_above",
        });
        self
    }

    /// Overrides the TTL of `policy`.
    pub fn ttl(mut self, policy: &dyn TtlPolicy, ttl: Duration) -> Self {
        self.overrides.set(policy.name(), ttl);
        self
    }

    /// `true`: [`Cache::flush`] may delete every key under the prefix (default `false`; also
    /// `CACHE_ALLOW_FLUSH=1`).
    pub fn allow_flush(mut self, allow: bool) -> Self {
        self.allow_flush = allow;
        self
    }

    /// Checks the settings and creates the cache. With Redis, no server needs to be up: calls
    /// run uncached until it answers.
    pub async fn build(self) -> Result<Cache, ConfigError> {
        let prefix = self.prefix;
        if prefix.value.is_empty()
            || prefix.value.len() > MAX_PREFIX
            || !prefix
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::new(
                prefix.origin,
                format!(
                    "`{}` is not a valid key prefix: use 1 to {MAX_PREFIX} letters, digits, `-`, `_` or `.`",
                    prefix.value
                ),
            ));
        }
        let max_key_bytes = self.max_key_bytes;
        if max_key_bytes.value < MIN_KEY_BYTES {
            return Err(ConfigError::new(
                max_key_bytes.origin,
                format!(
                    "`{}` is too small: keys need at least {MIN_KEY_BYTES} bytes (the prefix, the tenant and a hash)",
                    max_key_bytes.value
                ),
            ));
        }
        let compress_above = match self.compress_above {
            Some(setting) if !cfg!(feature = "compress") => {
                return Err(ConfigError::new(
                    setting.origin,
                    "compression needs the `compress` feature of cache-runtime, which is off in this build",
                ));
            }
            setting => setting.map(|setting| setting.value),
        };
        let format = Format {
            codec: self.codec,
            compress_above,
            max_bytes: self.max_value_bytes,
        };
        let mut layout = KeyLayout::new(prefix.value, max_key_bytes.value);
        // Cluster nodes win over a URL: the second seed's configuration sets both.
        let target = match (&self.cluster_nodes, &self.redis_url) {
            (Some(nodes), _) => Some((
                nodes.origin,
                nodes
                    .value
                    .iter()
                    .map(|node| redact(node))
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            (None, Some(url)) => Some((url.origin, redact(&url.value))),
            (None, None) => None,
        };
        let store: Option<Box<dyn Store>> = match (target, self.enabled) {
            (_, false) => None,
            (None, true) => {
                if let Some(variable) = self.tls.first_set() {
                    return Err(ConfigError::new(
                        variable,
                        "is set, but REDIS_URL is not: the in-process store has no connection to secure; set REDIS_URL=rediss://… or unset it",
                    ));
                }
                Some(Box::new(MemoryStore::new(self.memory_max_bytes)))
            }
            (Some((origin, shown)), true) => {
                // The Redis client, its deadlines and the local tier's subscriber run on tokio;
                // without a runtime they would panic on first use.
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(ConfigError::new(
                        origin,
                        "the Redis store needs a tokio runtime (with I/O and time enabled): build the cache from inside one, e.g. in `#[tokio::main]`",
                    ));
                }
                let connector = match (&self.cluster_nodes, &self.redis_url) {
                    (Some(nodes), _) => {
                        if self.redis_url.is_some() {
                            tracing::info!(
                                "cache: REDIS_CLUSTER_NODES is set, so REDIS_URL is not used"
                            );
                        }
                        layout = layout.on_cluster();
                        let (client, nodes) =
                            cluster_client(nodes, &self.tls, self.connect_timeout.value)?;
                        Connector::cluster(client, nodes, self.connect_timeout.value)
                    }
                    (None, Some(url)) => {
                        Connector::server(redis_client(url, &self.tls)?, self.connect_timeout.value)
                    }
                    (None, None) => unreachable!("a target was found above"),
                };
                let settings = RedisSettings {
                    connect_timeout: self.connect_timeout.value,
                    operation_timeout: self.operation_timeout,
                    write_timeout: self.write_timeout,
                    breaker_threshold: self.breaker_threshold,
                    breaker_cool_down: self.breaker_cool_down,
                };
                let subscriber = connector.subscriber();
                let store = RedisStore::new(connector, &settings)
                    .map_err(|e| ConfigError::new(origin, e.to_string()))?;
                match store.ping().await {
                    Ok(()) => {
                        let version = store.server_stats().redis_version.unwrap_or_default();
                        tracing::info!(url = %shown, %version, "cache: connected to Redis")
                    }
                    // Logged by the store, once.
                    Err(StoreError::Refused(_)) => {}
                    Err(error) => match store.server_stats().connection_problem {
                        Some(problem) => {
                            tracing::error!(url = %shown, %problem, "cache: Redis refuses the connection; calls run uncached until it is fixed")
                        }
                        None => {
                            tracing::warn!(url = %shown, %error, "cache: Redis does not answer yet; calls run uncached until it does")
                        }
                    },
                }
                match self.local_ttl {
                    Some(local_ttl) => Some(Box::new(
                        TieredStore::new(
                            MemoryStore::new(self.memory_max_bytes),
                            store,
                            subscriber,
                            local_ttl,
                            layout.channel(),
                        )
                        .map_err(|error| ConfigError::new(origin, error.to_string()))?,
                    )),
                    None => Some(Box::new(store)),
                }
            }
        };
        let remote = store.as_ref().is_some_and(|store| store.name() != "memory");
        let cache = Cache::new(Engine::new(store, layout, self.overrides, format));
        if let (Some(interval), true) = (self.health_check_interval, remote) {
            cache.spawn_health_checks(interval);
        }
        cache.engine().set_allow_flush(self.allow_flush);
        Ok(cache)
    }
}

#[cfg(test)]
mod tests;
