//! The cross-process lease of `lock`: one process computes a cold key while the others wait
//! (bounded by the lease) for the entry it writes.

use std::time::Duration;

use bytes::Bytes;

use super::Engine;
use crate::key::{self, Generations};
use crate::metrics::Counters;
use crate::store::{Fetched, Read, Store};

/// The outcome of asking for the lease.
pub(super) enum Lease {
    /// We hold it: compute, store, release.
    Held(Held),
    /// Another process filled the entry while we waited.
    Filled(Bytes),
    /// The store failed or the wait ran out: compute without it.
    Unavailable,
}

pub(super) struct Held {
    lock: String,
    token: String,
}

impl Engine {
    /// Takes the lease on `entry`, or waits (bounded by the lease) for its holder to fill it.
    pub(super) async fn lease(
        &self,
        store: &dyn Store,
        entry: &str,
        gens: &Generations,
        lease: Duration,
        counters: &Counters,
    ) -> Lease {
        let lock = key::lock_key(entry);
        let read = Read {
            gens: Some(gens),
            ..Read::default()
        };
        let token = self.leases.next();
        let deadline = tokio::time::Instant::now() + lease;
        let mut pause = Duration::from_millis(5);
        loop {
            match store.try_lock(&lock, &token, lease).await {
                Ok(true) => {
                    // Another process may have filled the entry between our miss and the lease.
                    return match store.get(entry, read).await {
                        Ok(Fetched {
                            found: Some(found), ..
                        }) => {
                            let _ = store.unlock(&lock, &token).await;
                            Lease::Filled(found.value)
                        }
                        _ => Lease::Held(Held { lock, token }),
                    };
                }
                Ok(false) => {}
                Err(error) => {
                    self.store_failed(counters, "lock", &error);
                    return Lease::Unavailable;
                }
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Lease::Unavailable;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
            match store.get(entry, read).await {
                Ok(fetched) => {
                    if let Some(found) = fetched.found {
                        return Lease::Filled(found.value);
                    }
                }
                Err(error) => {
                    self.store_failed(counters, "get", &error);
                    return Lease::Unavailable;
                }
            }
        }
    }

    pub(super) async fn release(&self, store: &dyn Store, held: Held) {
        let _ = store.unlock(&held.lock, &held.token).await;
    }
}
