//! The per-process fallback counters: fixed windows in memory, used while the store does not
//! answer. They count only this process's requests, so with N processes an outage admits up to
//! N × the limit: degraded, but never unlimited and never refusing everything.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Windows above this many are pruned of the ended ones before a new one is added.
const PRUNE_ABOVE: usize = 4096;

/// Counters by key: the count and the end of the window.
#[derive(Debug)]
pub(super) struct LocalWindows {
    windows: Mutex<BTreeMap<String, (u64, Instant)>>,
}

impl LocalWindows {
    pub(super) const fn new() -> Self {
        Self {
            windows: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds one to `key`'s window (a new one of `window` if none is running): the count and the
    /// time left.
    pub(super) fn increment(&self, key: &str, window: Duration) -> (u64, Duration) {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, (_, end)| *end > now);
        }
        let entry = windows.entry(key.to_owned()).or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 = entry.0.saturating_add(1);
        (entry.0, entry.1.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_within_a_window() {
        let windows = LocalWindows::new();
        let window = Duration::from_secs(60);
        assert_eq!(windows.increment("a", window).0, 1);
        assert_eq!(windows.increment("a", window).0, 2);
        assert_eq!(windows.increment("b", window).0, 1);
    }
}
