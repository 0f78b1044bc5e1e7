//! The service's own settings (the cache reads its own `REDIS_URL`, `CACHE_*`).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BIND_ADDR` | `127.0.0.1:8080` | address to listen on |
//! | `API_QUOTA_PER_DAY` | `1000` | requests per user (`X-User-Id`) and UTC day |
//! | `PROVIDER_DELAY_MS` | `200` | latency of each simulated upstream call |
//! | `PROVIDER_FAILURE_RATE` | `0` | share of upstream calls that fail, 0..=1 |

use std::net::SocketAddr;
use std::time::Duration;

/// The settings of the service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Where to listen.
    pub bind_addr: SocketAddr,
    /// Requests per user and UTC day.
    pub api_quota_per_day: u64,
    /// Latency of each simulated upstream call.
    pub provider_delay: Duration,
    /// Share of upstream calls that fail.
    pub provider_failure_rate: f64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_quota_per_day: 1000,
            provider_delay: Duration::from_millis(200),
            provider_failure_rate: 0.0,
        }
    }
}

impl ServiceConfig {
    /// The defaults, overridden by the environment; the error names the variable at fault.
    pub fn from_env() -> Result<Self, String> {
        let mut config = Self::default();
        for (name, value) in std::env::vars() {
            let value = value.trim();
            let bad = |what: &str| format!("{name}: `{value}` is not {what}");
            match name.as_str() {
                "BIND_ADDR" => config.bind_addr = value.parse().map_err(|_| bad("ip:port"))?,
                "API_QUOTA_PER_DAY" => {
                    config.api_quota_per_day = value.parse().map_err(|_| bad("a count"))?
                }
                "PROVIDER_DELAY_MS" => {
                    let ms = value.parse().map_err(|_| bad("milliseconds"))?;
                    config.provider_delay = Duration::from_millis(ms);
                }
                "PROVIDER_FAILURE_RATE" => {
                    config.provider_failure_rate = value
                        .parse()
                        .ok()
                        .filter(|rate| (0.0..=1.0).contains(rate))
                        .ok_or_else(|| bad("in 0..=1"))?
                }
                _ => {}
            }
        }
        Ok(config)
    }
}
