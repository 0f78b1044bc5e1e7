//! The keys with a background refresh under way, so that a key is refreshed once at a time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
pub(crate) struct Refreshing {
    keys: Arc<Mutex<HashSet<String>>>,
}

fn lock(keys: &Mutex<HashSet<String>>) -> MutexGuard<'_, HashSet<String>> {
    keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Refreshing {
    /// Marks `key` as being refreshed, unless it already is; the mark goes with the guard.
    pub(crate) fn claim(&self, key: &str) -> Option<RefreshGuard> {
        lock(&self.keys)
            .insert(key.to_owned())
            .then(|| RefreshGuard {
                keys: Arc::clone(&self.keys),
                key: key.to_owned(),
            })
    }
}

/// Dropping it (when the refresh ends, however it ends) clears the mark.
pub(crate) struct RefreshGuard {
    keys: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        lock(&self.keys).remove(&self.key);
    }
}
