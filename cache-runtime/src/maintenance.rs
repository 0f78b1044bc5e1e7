//! Maintenance on a [`Cache`]: `ping`, listing this service's keys by pattern, and a flush of
//! this service's own prefix that must be enabled first.

use std::fmt;
use std::time::{Duration, Instant};

use crate::cache::Cache;
use crate::engine::invalidate::InvalidateError;
use crate::store::StoreError;
use crate::tenant;

/// The most keys one [`Cache::keys`] call returns.
pub const MAX_LISTED_KEYS: usize = 10_000;

/// Why a maintenance call did nothing.
#[derive(Debug)]
#[non_exhaustive]
pub struct MaintenanceError {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Disabled,
    FlushNotAllowed,
    Store(StoreError),
    Invalidate(InvalidateError),
}

impl MaintenanceError {
    /// `flush` was refused because it is not enabled.
    pub fn is_flush_not_allowed(&self) -> bool {
        matches!(self.kind, Kind::FlushNotAllowed)
    }

    /// The store did not answer (timeout, connection, breaker open).
    pub fn is_unavailable(&self) -> bool {
        match &self.kind {
            Kind::Store(error) => error.is_outage(),
            Kind::Invalidate(error) => error.is_timeout() || error.is_unavailable(),
            _ => false,
        }
    }
}

impl fmt::Display for MaintenanceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Disabled => f.write_str("caching is disabled (CACHE_ENABLED=false): there is no store"),
            Kind::FlushNotAllowed => f.write_str(
                "flush is not enabled for this cache: set CACHE_ALLOW_FLUSH=1 in its environment or build it with CacheBuilder::allow_flush(true); it deletes every key under this cache's prefix, for every tenant",
            ),
            Kind::Store(error) => write!(f, "the store failed: {error}"),
            Kind::Invalidate(error) => write!(f, "the flush failed: {error}"),
        }
    }
}

impl std::error::Error for MaintenanceError {}

fn error(kind: Kind) -> MaintenanceError {
    MaintenanceError { kind }
}

impl Cache {
    /// Asks the store to answer (`PING` for Redis): the round-trip time.
    pub async fn ping(&self) -> Result<Duration, MaintenanceError> {
        let store = self.engine().direct().ok_or(error(Kind::Disabled))?;
        let started = Instant::now();
        store.probe().await.map_err(|e| error(Kind::Store(e)))?;
        Ok(started.elapsed())
    }

    /// Up to `limit` (at most [`MAX_LISTED_KEYS`]) full keys of the current tenant (of calls
    /// outside any tenant when there is none) whose rendered key matches `pattern`. `*` in the
    /// pattern matches any text; every other character, glob syntax included (`?`, `[`, `\`),
    /// matches only itself. Argument values appear escaped in keys (`a:b` as `a%3Ab`). Runs
    /// `SCAN` (never `KEYS`) with a bounded number of pages.
    pub async fn keys(&self, pattern: &str, limit: usize) -> Result<Vec<String>, MaintenanceError> {
        let store = self.engine().direct().ok_or(error(Kind::Disabled))?;
        let prefix = tenant::with_current(|tenant| self.engine().layout().tenant_entries(tenant));
        let limit = limit.min(MAX_LISTED_KEYS);
        store
            .scan(&prefix, pattern, limit)
            .await
            .map_err(|e| error(Kind::Store(e)))
    }

    /// Deletes every key under this cache's prefix, every tenant's, entries, typed entries,
    /// counters and bookkeeping alike; how many entries existed. Refused unless enabled with
    /// `CACHE_ALLOW_FLUSH=1` or `CacheBuilder::allow_flush(true)`: other services sharing the
    /// Redis keep their keys (other prefixes), but this one loses all of its own.
    pub async fn flush(&self) -> Result<u64, MaintenanceError> {
        if !self.engine().flush_allowed() {
            return Err(error(Kind::FlushNotAllowed));
        }
        if !self.engine().enabled() {
            return Err(error(Kind::Disabled));
        }
        // Every key under the prefix goes, the generations too: a value computed before and
        // written after carries a stamp that no new generation matches.
        let everything = self.engine().layout().everything();
        self.engine()
            .delete_bookkeeping(&everything)
            .await
            .map_err(|e| error(Kind::Invalidate(e)))
    }
}
