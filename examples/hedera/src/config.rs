//! The service's own settings (the cache reads its own `REDIS_URL`, `CACHE_*`).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BIND_ADDR` | `127.0.0.1:8080` | address to listen on |
//! | `RATE_LIMIT_PER_MINUTE` | `100` | requests per client IP and minute, on every route |
//! | `PROVIDER_DELAY_MS` | `200` | latency of each simulated provider call |
//! | `COINGECKO_FAILURE_RATE` | `0` | share of calls to the primary rate provider that fail |
//! | `COINMARKETCAP_FAILURE_RATE` | `0` | the same for the fallback provider |

use std::net::SocketAddr;
use std::time::Duration;

/// The settings of the service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Where to listen.
    pub bind_addr: SocketAddr,
    /// Requests per client IP and minute.
    pub rate_limit_per_minute: u64,
    /// Latency of each simulated provider call.
    pub provider_delay: Duration,
    /// Failure share of the primary rate provider.
    pub coingecko_failure_rate: f64,
    /// Failure share of the fallback rate provider.
    pub coinmarketcap_failure_rate: f64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rate_limit_per_minute: 100,
            provider_delay: Duration::from_millis(200),
            coingecko_failure_rate: 0.0,
            coinmarketcap_failure_rate: 0.0,
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
                "RATE_LIMIT_PER_MINUTE" => {
                    config.rate_limit_per_minute = value.parse().map_err(|_| bad("a count"))?
                }
                "PROVIDER_DELAY_MS" => {
                    let ms = value.parse().map_err(|_| bad("milliseconds"))?;
                    config.provider_delay = Duration::from_millis(ms);
                }
                "COINGECKO_FAILURE_RATE" => {
                    config.coingecko_failure_rate = rate(value).ok_or_else(|| bad("in 0..=1"))?
                }
                "COINMARKETCAP_FAILURE_RATE" => {
                    config.coinmarketcap_failure_rate =
                        rate(value).ok_or_else(|| bad("in 0..=1"))?
                }
                _ => {}
            }
        }
        Ok(config)
    }
}

fn rate(value: &str) -> Option<f64> {
    value.parse().ok().filter(|rate| (0.0..=1.0).contains(rate))
}
