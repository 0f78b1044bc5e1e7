//! Settings from the environment: which variables are ours, and how each value is parsed.

use std::ffi::OsString;
use std::path::PathBuf;

use super::duration::{parse_duration, Bare};
use super::error::{ConfigError, Setting};
use super::known::{is_ours, unknown_variable, TTL_PREFIX};
use super::CacheBuilder;
use crate::codec::Codec;

impl CacheBuilder {
    /// The defaults, overridden by the process environment.
    ///
    /// Variables that are not ours are ignored, whatever bytes they hold; one of ours whose
    /// value is not UTF-8 is an error naming it. A `CACHE_*` or `REDIS_*` variable that is not
    /// ours is logged as a warning (`tracing`) naming the closest one that is.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars_os(std::env::vars_os())
    }

    /// The defaults, overridden by `vars` (name, value) as if they were the environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = Self::new();
        for (name, value) in vars {
            if let Some(warning) = unknown_variable(&name) {
                tracing::warn!("cache: {warning}");
                continue;
            }
            if is_ours(&name) {
                builder.apply_var(&name, value)?;
            }
        }
        Ok(builder)
    }

    /// [`CacheBuilder::from_vars`] over the environment's own strings, which need not be UTF-8.
    pub(super) fn from_vars_os(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = Self::new();
        for (name, value) in vars {
            // Every name of ours is ASCII: a name that is not UTF-8 is someone else's.
            let Some(name) = name.to_str() else {
                continue;
            };
            if let Some(warning) = unknown_variable(name) {
                tracing::warn!("cache: {warning}");
                continue;
            }
            if !is_ours(name) {
                continue;
            }
            let value = value.into_string().map_err(|value| {
                ConfigError::new(
                    name,
                    format!(
                        "`{}` is not valid UTF-8",
                        value.to_string_lossy().escape_debug()
                    ),
                )
            })?;
            builder.apply_var(name, value)?;
        }
        Ok(builder)
    }

    fn apply_var(&mut self, name: &str, value: String) -> Result<(), ConfigError> {
        match name {
            "REDIS_URL" => {
                self.redis_url = (!value.trim().is_empty()).then(|| Setting {
                    value: value.trim().to_owned(),
                    origin: "REDIS_URL",
                });
            }
            "REDIS_CLUSTER_NODES" => {
                let nodes: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|node| !node.is_empty())
                    .map(str::to_owned)
                    .collect();
                self.cluster_nodes = (!nodes.is_empty()).then_some(Setting {
                    value: nodes,
                    origin: "REDIS_CLUSTER_NODES",
                });
            }
            "REDIS_CONNECTION_TIMEOUT" | "CACHE_CONNECT_TIMEOUT_MS" => {
                let (origin, other, bare) = if name == "REDIS_CONNECTION_TIMEOUT" {
                    ("REDIS_CONNECTION_TIMEOUT", "CACHE_CONNECT_TIMEOUT_MS", Bare::Seconds)
                } else {
                    ("CACHE_CONNECT_TIMEOUT_MS", "REDIS_CONNECTION_TIMEOUT", Bare::Millis)
                };
                let timeout = parse_duration(name, &value, bare)?;
                // Two names for one deadline: whichever came last would win unseen.
                if self.connect_timeout.origin == other && self.connect_timeout.value != timeout {
                    return Err(ConfigError::new(
                        name,
                        format!("{other} sets the same connect deadline to another value: keep one of the two"),
                    ));
                }
                self.connect_timeout = Setting {
                    value: timeout,
                    origin,
                };
            }
            "REDIS_HEALTH_CHECK_INTERVAL" => {
                self.health_check_interval = Some(parse_duration(name, &value, Bare::Seconds)?)
            }
            "REDIS_MAX_CONNECTIONS" => match value.trim().parse::<u64>() {
                Ok(1) => {}
                Ok(_) => return Err(ConfigError::new(
                    name,
                    format!("`{value}`: the cache uses one multiplexed connection, which pipelines every concurrent caller (throughput is measured against redis-benchmark in the README); there is no pool to size: unset REDIS_MAX_CONNECTIONS or set it to 1"),
                )),
                Err(_) => return Err(ConfigError::new(
                    name,
                    format!("`{value}` is not a whole number; the cache uses one multiplexed connection, so the only accepted value is 1"),
                )),
            },
            "REDIS_MIN_IDLE" | "REDIS_MAX_LIFETIME" | "REDIS_IDLE_TIMEOUT"
                if !value.trim().is_empty() =>
            {
                return Err(ConfigError::new(name, refused_pool_setting(name)));
            }
            "CACHE_ENABLED" => self.enabled = parse_bool(name, &value)?,
            "CACHE_ALLOW_FLUSH" => self.allow_flush = parse_bool(name, &value)?,
            "CACHE_PREFIX" => {
                self.prefix = Setting {
                    value,
                    origin: "CACHE_PREFIX",
                }
            }
            "CACHE_OPERATION_TIMEOUT_MS" => {
                self.operation_timeout = parse_duration(name, &value, Bare::Millis)?
            }
            "CACHE_WRITE_TIMEOUT_MS" => {
                self.write_timeout = parse_duration(name, &value, Bare::Millis)?
            }
            "CACHE_BREAKER_THRESHOLD" => {
                self.breaker_threshold = u32::try_from(parse_positive(name, &value)?)
                    .map_err(|_| ConfigError::new(name, "must be at most 4294967295"))?
            }
            "CACHE_BREAKER_COOL_DOWN_MS" => {
                self.breaker_cool_down = parse_duration(name, &value, Bare::Millis)?
            }
            "CACHE_MAX_VALUE_BYTES" => {
                self.max_value_bytes = usize::try_from(parse_positive(name, &value)?)
                    .map_err(|_| ConfigError::new(name, "is too large"))?
            }
            "CACHE_MEMORY_MAX_BYTES" => self.memory_max_bytes = parse_positive(name, &value)?,
            "CACHE_LOCAL_TTL_MS" => {
                self.local_ttl = Some(parse_duration(name, &value, Bare::Millis)?)
            }
            "CACHE_MAX_KEY_BYTES" => {
                self.max_key_bytes = Setting {
                    value: usize::try_from(parse_positive(name, &value)?)
                        .map_err(|_| ConfigError::new(name, "is too large"))?,
                    origin: "CACHE_MAX_KEY_BYTES",
                }
            }
            "CACHE_TLS_CA_FILE" => self.tls.ca = path("CACHE_TLS_CA_FILE", &value),
            "CACHE_TLS_CERT_FILE" => self.tls.cert = path("CACHE_TLS_CERT_FILE", &value),
            "CACHE_TLS_KEY_FILE" => self.tls.key = path("CACHE_TLS_KEY_FILE", &value),
            "CACHE_CODEC" => {
                self.codec =
                    Codec::named(&value).map_err(|message| ConfigError::new(name, message))?
            }
            "CACHE_COMPRESS_ABOVE" if value.trim().is_empty() => self.compress_above = None,
            "CACHE_COMPRESS_ABOVE" => {
                let bytes = value.trim().parse::<usize>().map_err(|_| {
                    ConfigError::new(
                        name,
                        format!("`{value}` is not a number of bytes, e.g. 4096"),
                    )
                })?;
                self.compress_above = Some(Setting {
                    value: bytes,
                    origin: "CACHE_COMPRESS_ABOVE",
                });
            }
            _ => {
                if let Some(policy) = name.strip_prefix(TTL_PREFIX) {
                    self.overrides
                        .set(policy, parse_duration(name, &value, Bare::Seconds)?);
                }
            }
        }
        Ok(())
    }
}

/// Why a connection-pool setting does not apply, and what to do instead.
fn refused_pool_setting(name: &str) -> &'static str {
    match name {
        "REDIS_MIN_IDLE" => "the cache keeps no pool of idle connections: one multiplexed connection stays open and is re-established in the background when it breaks; unset REDIS_MIN_IDLE",
        "REDIS_MAX_LIFETIME" => "the cache does not recycle its connection by age: its one multiplexed connection is kept while it works and replaced when it fails or the breaker opens; unset REDIS_MAX_LIFETIME",
        _ => "the cache never closes its connection for being idle; to find a dead connection without traffic, set REDIS_HEALTH_CHECK_INTERVAL (a background PING); unset REDIS_IDLE_TIMEOUT",
    }
}

/// A file path; empty means unset.
fn path(origin: &'static str, value: &str) -> Option<Setting<PathBuf>> {
    (!value.trim().is_empty()).then(|| Setting {
        value: PathBuf::from(value.trim()),
        origin,
    })
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(
            name,
            format!("`{value}` is not a boolean: use true or false"),
        )),
    }
}

fn parse_positive(name: &str, value: &str) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(number) if number > 0 => Ok(number),
        _ => Err(ConfigError::new(
            name,
            format!("`{value}` is not a whole number greater than zero"),
        )),
    }
}
