//! Settings from the environment: which variables are ours, and how each value is parsed.

use std::ffi::OsString;
use std::time::Duration;

use super::error::{ConfigError, Setting};
use super::CacheBuilder;
use crate::codec::Codec;
use crate::store::MAX_TTL;

/// Variables read by [`CacheBuilder::from_env`], besides `CACHE_TTL_<POLICY>`.
const VARIABLES: &[&str] = &[
    "REDIS_URL",
    "REDIS_CLUSTER_NODES",
    "CACHE_ENABLED",
    "CACHE_PREFIX",
    "CACHE_OPERATION_TIMEOUT_MS",
    "CACHE_WRITE_TIMEOUT_MS",
    "CACHE_CONNECT_TIMEOUT_MS",
    "CACHE_BREAKER_THRESHOLD",
    "CACHE_BREAKER_COOL_DOWN_MS",
    "CACHE_MAX_VALUE_BYTES",
    "CACHE_MEMORY_MAX_BYTES",
    "CACHE_LOCAL_TTL_MS",
    "CACHE_MAX_KEY_BYTES",
    "CACHE_CODEC",
    "CACHE_COMPRESS_ABOVE",
];

/// The prefix of per-policy TTL overrides.
const TTL_PREFIX: &str = "CACHE_TTL_";

/// Whether the runtime reads the variable `name`.
fn is_ours(name: &str) -> bool {
    VARIABLES.contains(&name) || name.starts_with(TTL_PREFIX)
}

impl CacheBuilder {
    /// The defaults, overridden by the process environment.
    ///
    /// Variables that are not ours are ignored, whatever bytes they hold; one of ours whose
    /// value is not UTF-8 is an error naming it.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars_os(std::env::vars_os())
    }

    /// The defaults, overridden by `vars` (name, value) as if they were the environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = Self::new();
        for (name, value) in vars {
            builder.apply_var(&name, value)?;
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
            let Some(name) = name.to_str().filter(|name| is_ours(name)) else {
                continue;
            };
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
            "REDIS_CLUSTER_NODES" if !value.trim().is_empty() => {
                return Err(ConfigError::new(
                    name,
                    "Redis Cluster is not supported yet: point REDIS_URL at a single server (or a proxy) and unset REDIS_CLUSTER_NODES",
                ));
            }
            "CACHE_ENABLED" => self.enabled = parse_bool(name, &value)?,
            "CACHE_PREFIX" => {
                self.prefix = Setting {
                    value,
                    origin: "CACHE_PREFIX",
                }
            }
            "CACHE_OPERATION_TIMEOUT_MS" => self.operation_timeout = parse_millis(name, &value)?,
            "CACHE_WRITE_TIMEOUT_MS" => self.write_timeout = parse_millis(name, &value)?,
            "CACHE_CONNECT_TIMEOUT_MS" => self.connect_timeout = parse_millis(name, &value)?,
            "CACHE_BREAKER_THRESHOLD" => {
                self.breaker_threshold = u32::try_from(parse_positive(name, &value)?)
                    .map_err(|_| ConfigError::new(name, "must be at most 4294967295"))?
            }
            "CACHE_BREAKER_COOL_DOWN_MS" => self.breaker_cool_down = parse_millis(name, &value)?,
            "CACHE_MAX_VALUE_BYTES" => {
                self.max_value_bytes = usize::try_from(parse_positive(name, &value)?)
                    .map_err(|_| ConfigError::new(name, "is too large"))?
            }
            "CACHE_MEMORY_MAX_BYTES" => self.memory_max_bytes = parse_positive(name, &value)?,
            "CACHE_LOCAL_TTL_MS" => self.local_ttl = Some(parse_millis(name, &value)?),
            "CACHE_MAX_KEY_BYTES" => {
                self.max_key_bytes = Setting {
                    value: usize::try_from(parse_positive(name, &value)?)
                        .map_err(|_| ConfigError::new(name, "is too large"))?,
                    origin: "CACHE_MAX_KEY_BYTES",
                }
            }
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
                    self.overrides.set(policy, parse_ttl(name, &value)?);
                }
            }
        }
        Ok(())
    }
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

fn parse_millis(name: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_positive(name, value).map(Duration::from_millis)
}

/// A TTL override in seconds, at most [`MAX_TTL`]: longer expiries are refused by Redis.
fn parse_ttl(name: &str, value: &str) -> Result<Duration, ConfigError> {
    let seconds = parse_positive(name, value)?;
    if seconds > MAX_TTL.as_secs() {
        return Err(ConfigError::new(
            name,
            format!(
                "`{value}` is too long: a TTL is at most {} seconds (100 years)",
                MAX_TTL.as_secs()
            ),
        ));
    }
    Ok(Duration::from_secs(seconds))
}
