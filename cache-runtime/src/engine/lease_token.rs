//! Lease tokens: what proves, on release, that the releaser holds the lease.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// Tokens that no other holder of a lease has: a per-process seed and a sequence.
pub(crate) struct LeaseTokens {
    seed: u64,
    sequence: AtomicU64,
}

impl Default for LeaseTokens {
    fn default() -> Self {
        Self {
            seed: RandomState::new().hash_one(std::process::id()),
            sequence: AtomicU64::new(0),
        }
    }
}

impl LeaseTokens {
    pub(crate) fn next(&self) -> String {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{sequence:016x}", self.seed)
    }
}
