//! The service's own settings (the cache reads its own `REDIS_URL`, `CACHE_*`, including
//! `CACHE_TTL_COIN_DATA` and `CACHE_TTL_TOKENOMICS`).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BIND_ADDR` | `127.0.0.1:8080` | address to listen on |
//! | `PREWARM_INTERVAL_SECS` | `300` | how often the popular coins are refreshed; `0`: never |
//! | `PREWARM_TOP` | `20` | how many popular coins |
//! | `PROVIDER_DELAY_MS` | `200` | latency of each simulated provider call |
//! | `PROVIDER_FAILURE_RATE` | `0` | share of provider calls that fail, 0..=1 |

use std::net::SocketAddr;
use std::time::Duration;

/// The settings of the service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Where to listen.
    pub bind_addr: SocketAddr,
    /// Pre-warm period; `None`: no pre-warming.
    pub prewarm_interval: Option<Duration>,
    /// How many popular coins to pre-warm.
    pub prewarm_top: usize,
    /// Latency of each simulated provider call.
    pub provider_delay: Duration,
    /// Share of provider calls that fail.
    pub provider_failure_rate: f64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            prewarm_interval: Some(Duration::from_secs(300)),
            prewarm_top: 20,
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
                "PREWARM_INTERVAL_SECS" => {
                    let secs: u64 = value.parse().map_err(|_| bad("seconds"))?;
                    config.prewarm_interval = (secs > 0).then(|| Duration::from_secs(secs));
                }
                "PREWARM_TOP" => config.prewarm_top = value.parse().map_err(|_| bad("a count"))?,
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
