//! Upstream providers simulated in-process, so the service runs without network access.
//!
//! Each call waits `delay`, then fails for a share `failure_rate` of calls: deterministically,
//! every call that carries the running total `calls × failure_rate` past a whole number (0.25 fails
//! the 4th, 8th, … call; 1.0 every call), so a test knows which call fails.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A simulated upstream API.
#[derive(Debug)]
pub struct Provider {
    name: &'static str,
    delay: Duration,
    failure_rate: f64,
    calls: AtomicU64,
}

/// A provider call that failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProviderError {
    /// The provider's name.
    pub provider: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.provider, self.message)
    }
}

impl std::error::Error for ProviderError {}

impl Provider {
    /// A provider answering after `delay`, failing a share `failure_rate` (0.0..=1.0) of calls.
    pub fn new(name: &'static str, delay: Duration, failure_rate: f64) -> Self {
        Self {
            name,
            delay,
            failure_rate: failure_rate.clamp(0.0, 1.0),
            calls: AtomicU64::new(0),
        }
    }

    /// The provider's name, e.g. `coingecko`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Calls made so far, failed ones included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// One call: waits, then `Ok(())` or the simulated failure.
    pub async fn call(&self) -> Result<(), ProviderError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.delay).await;
        let crossed =
            (n as f64 * self.failure_rate).floor() > ((n - 1) as f64 * self.failure_rate).floor();
        if crossed {
            return Err(ProviderError {
                provider: self.name.to_owned(),
                message: "simulated upstream failure".to_owned(),
            });
        }
        Ok(())
    }
}

/// A stable pseudo-random figure in `0.0..1.0` for `text`, so simulated data is repeatable.
pub fn figure(text: &str) -> f64 {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (hash % 10_000) as f64 / 10_000.0
}
