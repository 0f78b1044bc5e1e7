//! The service's own settings (the cache reads its own, see `cache_runtime::CacheBuilder`).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BIND_ADDR` | `127.0.0.1:8080` | address to listen on, `ip:port` |
//! | `SOURCE_DELAY_MS` | `300` | how long one query of the simulated source takes |

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::source::DEFAULT_DELAY;

/// The settings of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Where to listen.
    pub bind_addr: SocketAddr,
    /// The delay of each simulated source query.
    pub source_delay: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            source_delay: DEFAULT_DELAY,
        }
    }
}

impl ServiceConfig {
    /// The defaults, overridden by the process environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_vars(std::env::vars())
    }

    /// The defaults, overridden by `vars` (name, value) as if they were the environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingError> {
        let mut config = Self::default();
        for (name, value) in vars {
            match name.as_str() {
                "BIND_ADDR" => {
                    config.bind_addr = value.trim().parse().map_err(|_| SettingError {
                        variable: "BIND_ADDR",
                        message: format!(
                            "`{value}` is not a socket address: use ip:port, e.g. 127.0.0.1:8080 or [::1]:8080"
                        ),
                    })?;
                }
                "SOURCE_DELAY_MS" => {
                    let millis = value.trim().parse::<u64>().map_err(|_| SettingError {
                        variable: "SOURCE_DELAY_MS",
                        message: format!("`{value}` is not a whole number of milliseconds"),
                    })?;
                    config.source_delay = Duration::from_millis(millis);
                }
                _ => {}
            }
        }
        Ok(config)
    }
}

/// A setting that cannot be used; its message starts with the variable's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    variable: &'static str,
    message: String,
}

impl SettingError {
    /// The variable at fault, e.g. `BIND_ADDR`.
    pub fn variable(&self) -> &'static str {
        self.variable
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for SettingError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<ServiceConfig, SettingError> {
        ServiceConfig::from_vars(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        )
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(from(&[]), Ok(ServiceConfig::default()));
        let config = from(&[("BIND_ADDR", "0.0.0.0:9000"), ("SOURCE_DELAY_MS", "5")]).unwrap();
        assert_eq!(config.bind_addr, SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert_eq!(config.source_delay, Duration::from_millis(5));
    }

    #[test]
    fn a_malformed_value_names_its_variable() {
        for (name, value) in [
            ("BIND_ADDR", "localhost"),
            ("BIND_ADDR", "127.0.0.1"),
            ("SOURCE_DELAY_MS", "fast"),
        ] {
            let error = from(&[(name, value)]).unwrap_err();
            assert_eq!(error.variable(), name);
            assert!(
                error.to_string().starts_with(&format!("{name}: `{value}`")),
                "{error}"
            );
        }
    }
}
