//! The counters of typed entries, counters and rate limits: failures that are never raised
//! (reads answer `None`, writes `false`) are counted here, in [`Stats::direct`](crate::Stats).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// What typed entries ([`keyspace!`](crate::keyspace)), counters and rate limits met since
/// start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DirectStats {
    /// Reads that failed (store down, timeout, breaker open) and answered `None`.
    pub read_errors: u64,
    /// Writes (set, delete, touch, update, increments) that failed and reported it.
    pub write_errors: u64,
    /// Stored values that did not decode as the keyspace's type: read as `None`.
    pub undecodable: u64,
    /// Updates given up after their retries, each lost to a concurrent write.
    pub update_conflicts: u64,
    /// Rate-limit and quota decisions made by the per-process fallback limiter because the
    /// store did not answer.
    pub local_limit_decisions: u64,
}

/// The live counters behind [`DirectStats`].
#[derive(Debug, Default)]
pub(crate) struct DirectCounters {
    pub(crate) read_errors: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    pub(crate) update_conflicts: AtomicU64,
    pub(crate) local_limit_decisions: AtomicU64,
}

impl DirectCounters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> DirectStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        DirectStats {
            read_errors: read(&self.read_errors),
            write_errors: read(&self.write_errors),
            undecodable: read(&self.undecodable),
            update_conflicts: read(&self.update_conflicts),
            local_limit_decisions: read(&self.local_limit_decisions),
        }
    }
}
