//! Write-through caching of exchange rates: a repository whose reads are `#[cached]` and whose
//! writes keep the cache in step with the source of truth.
//!
//! - [`rate`] reads one rate: from the cache, else from the [`RateDb`] (the source of truth; an
//!   in-memory map standing in for a database), storing it for [`RatePolicy::ExchangeRate`].
//! - [`set_rate`] writes the database first and then stores the rate it wrote under the same key
//!   (`#[cache_put]`), so the next [`rate`] returns the new value without reading the database.
//! - [`delete_rate`] deletes from the database first and then evicts the key
//!   (`#[cache_evict]`), so the next [`rate`] asks the database and finds nothing.
//!
//! A write that fails (an invalid rate, a pair the database does not hold) leaves the cache as
//! it was: `#[cache_put]` stores only `Ok`, `#[cache_evict]` evicts only after `Ok`.
//!
//! The three share one key template, `rate:{base}:{quote}`, so they always name the same entry:
//! `v1:_:rate:USD:JPY` for USD→JPY outside any tenant.
//!
//! One race remains, as with any cache in front of a database: a [`rate`] miss that read the
//! database just before a [`set_rate`] can store the old value just after the put. The TTL bounds
//! how long it is served; keep the policy short for data that must never lag.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_runtime::{cache_evict, cache_put, cached, TtlPolicy};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

/// A currency; renders as its ISO code in keys and JSON (`USD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    /// US dollar.
    Usd,
    /// Euro.
    Eur,
    /// Japanese yen.
    Jpy,
    /// Pound sterling.
    Gbp,
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Jpy => "JPY",
            Currency::Gbp => "GBP",
        })
    }
}

/// One unit of `base` costs `value` units of `quote`, as of database revision `revision`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// The currency being priced.
    pub base: Currency,
    /// The currency of the price.
    pub quote: Currency,
    /// The price of one `base` in `quote`.
    pub value: f64,
    /// The database's revision counter after the write that set this rate.
    pub revision: u64,
}

/// Why a read or a write of a rate failed. Never cached.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RateError {
    /// The database holds no rate for this pair.
    NotFound(Currency, Currency),
    /// Not a usable rate: zero, negative, not finite, or a currency priced in itself.
    Invalid(String),
}

impl fmt::Display for RateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateError::NotFound(base, quote) => write!(f, "no rate for {base}/{quote}"),
            RateError::Invalid(reason) => write!(f, "invalid rate: {reason}"),
        }
    }
}

impl std::error::Error for RateError {}

/// How long a rate may be served from the cache.
///
/// Its name labels the counters (`exchange_rate`) and the start-up override:
/// `CACHE_TTL_EXCHANGE_RATE=30` (seconds) replaces the 90 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, TtlPolicy)]
pub enum RatePolicy {
    /// Rates move all day; 90 s of lag is acceptable, and writes through this crate are seen
    /// at once anyway.
    #[ttl("90s")]
    ExchangeRate,
}

/// The source of truth: rates by pair, behind a lock, with a simulated query latency and a
/// count of the reads that reached it.
#[derive(Debug)]
pub struct RateDb {
    rates: RwLock<HashMap<(Currency, Currency), Rate>>,
    revision: AtomicU64,
    reads: AtomicU64,
    latency: Duration,
}

impl RateDb {
    /// An empty database whose every query takes `latency`.
    pub fn new(latency: Duration) -> Self {
        Self {
            rates: RwLock::new(HashMap::new()),
            revision: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            latency,
        }
    }

    /// How many reads reached the database: a cache hit does not count.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// Reads the rate for the pair.
    pub async fn load(&self, base: Currency, quote: Currency) -> Result<Rate, RateError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
        self.rates
            .read()
            .await
            .get(&(base, quote))
            .copied()
            .ok_or(RateError::NotFound(base, quote))
    }

    /// Writes the rate for the pair and returns it as stored.
    pub async fn store(
        &self,
        base: Currency,
        quote: Currency,
        value: f64,
    ) -> Result<Rate, RateError> {
        if base == quote {
            return Err(RateError::Invalid(format!("{base} priced in itself")));
        }
        if !value.is_finite() || value <= 0.0 {
            return Err(RateError::Invalid(format!(
                "{value} for {base}/{quote} (must be finite and positive)"
            )));
        }
        tokio::time::sleep(self.latency).await;
        let mut rates = self.rates.write().await;
        let rate = Rate {
            base,
            quote,
            value,
            revision: self.revision.fetch_add(1, Ordering::SeqCst) + 1,
        };
        rates.insert((base, quote), rate);
        Ok(rate)
    }

    /// Deletes the rate for the pair; `NotFound` if there was none.
    pub async fn remove(&self, base: Currency, quote: Currency) -> Result<(), RateError> {
        tokio::time::sleep(self.latency).await;
        let mut rates = self.rates.write().await;
        match rates.remove(&(base, quote)) {
            Some(_) => {
                self.revision.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            None => Err(RateError::NotFound(base, quote)),
        }
    }
}

/// The rate for `base`→`quote`: from the cache, else from the database (then cached for
/// [`RatePolicy::ExchangeRate`]). `NotFound` is not cached: a rate added later is seen at once.
#[cached(key = "rate:{base}:{quote}", ttl = RatePolicy::ExchangeRate)]
pub async fn rate(db: &RateDb, base: Currency, quote: Currency) -> Result<Rate, RateError> {
    db.load(base, quote).await
}

/// Writes the rate to the database, then stores what was written as [`rate`]'s entry: the next
/// read returns it without asking the database. A rejected write stores nothing.
#[cache_put(function = rate, key = "rate:{base}:{quote}")]
pub async fn set_rate(
    db: &RateDb,
    base: Currency,
    quote: Currency,
    value: f64,
) -> Result<Rate, RateError> {
    db.store(base, quote, value).await
}

/// Deletes the rate from the database, then evicts [`rate`]'s entry: the next read asks the
/// database. A failed delete evicts nothing.
#[cache_evict(function = rate, key = "rate:{base}:{quote}")]
pub async fn delete_rate(db: &RateDb, base: Currency, quote: Currency) -> Result<(), RateError> {
    db.remove(base, quote).await
}
