//! The write half of get-or-set: a miss computed once (single flight, then the lease if the
//! site asks for it), and the entry stored with its TTL, stale copy and index memberships.

use std::future::Future;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::flight::{self, Outcome, Role};
use super::invalidate::MARK_WINDOW;
use super::lease::Lease;
use super::site::Site;
use super::{Adapter, Engine, Share};
use crate::key::{self, EntryKey};
use crate::metrics::Counters;
use crate::store::{Guard, Index, Read, Stamp, Store, Typed, Write};

impl Engine {
    /// A miss: single flight in this process, the lease across processes if the site asks for
    /// it, then the function, then the store.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn compute<R, T, F>(
        &self,
        store: &dyn Store,
        site: &'static Site,
        entry: &EntryKey,
        write: bool,
        adapter: Adapter<R, T>,
        share: Option<Share<R>>,
        body: F,
        counters: &Counters,
    ) -> R
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = R>,
    {
        let key = entry.key.as_str();
        let format = self.format(site);
        if flight::is_computing(key) {
            Counters::add(&counters.reentered);
            if site.first_reentered() {
                tracing::warn!(function = site.path(), "cache: a call re-entered a key its own task is computing; it runs uncached instead of waiting for itself (logged once per function)");
            }
            return body.await;
        }
        let leader = loop {
            let follower = match self.flights.join(key) {
                Role::Leader(leader) => break Some(leader),
                Role::Follower(follower) => follower,
            };
            match follower.outcome().await.as_deref() {
                Some(Outcome::Value(bytes)) => {
                    if let Ok(value) = format.decode::<T>(bytes) {
                        return (adapter.wrap)(value);
                    }
                    break None;
                }
                Some(Outcome::Uncached(Some(result))) => {
                    match share.as_ref().and_then(|share| (share.from_any)(&**result)) {
                        Some(result) => return result,
                        None => break None,
                    }
                }
                // The leader's result cannot be shared: run the function here.
                Some(Outcome::Uncached(None)) => break None,
                Some(Outcome::Panicked) => std::panic::resume_unwind(Box::new(format!(
                    "cached function `{}` panicked while computing this key for another caller",
                    site.path()
                ))),
                // The leader was cancelled: elect a new one.
                None => continue,
            }
        };
        let Some(leader) = leader else {
            return body.await;
        };
        let lease = match site.spec.lock {
            Some(lease) => match self.lease(store, key, lease, counters).await {
                Lease::Filled(bytes) => {
                    if let Ok(value) = format.decode::<T>(&bytes) {
                        leader.publish(Outcome::Value(bytes));
                        return (adapter.wrap)(value);
                    }
                    None
                }
                Lease::Held(lease) => Some(lease),
                Lease::Unavailable => None,
            },
            None => None,
        };
        // The store's clock before the function runs: an invalidation at or after this moment
        // refuses the write of what it computes (one more round trip on a Redis miss).
        let write = match write {
            true => match store.now().await {
                Ok(began) => Some(began),
                Err(error) => {
                    self.store_failed(counters, "time", &error);
                    None
                }
            },
            false => None,
        };
        let result = flight::computing(key, body).await;
        let outcome = match (adapter.get)(&result) {
            // Nothing to write (the store is unreachable) and nobody waiting: skip the encoding,
            // the main cost of a call while the breaker is open.
            Some(_) if write.is_none() && !leader.has_followers() => Outcome::Uncached(None),
            Some(value) => match format.encode(value) {
                Ok(bytes) => {
                    // When the read just found the store unreachable, a write would only add
                    // its own timeout to this call.
                    if let Some(began) = write {
                        let typed = adapter.typing.map(|typing| (typing.to_any)(value));
                        let intent = Intent::computed(began);
                        self.store(store, site, entry, bytes.clone(), typed, intent, counters)
                            .await;
                    }
                    Outcome::Value(bytes)
                }
                Err(error) => {
                    self.log_unencodable(site, &error);
                    Outcome::Uncached(None)
                }
            },
            // The stale copy is in the store that the lookup just found unreachable: asking
            // again would cost the caller a second timeout.
            None if write.is_none() => {
                Outcome::Uncached(share.as_ref().map(|share| (share.to_any)(&result)))
            }
            None => match self
                .stale(store, site, key, &adapter, &result, counters)
                .await
            {
                Some((bytes, value)) => {
                    if let Some(lease) = lease {
                        self.release(store, lease).await;
                    }
                    leader.publish(Outcome::Value(bytes));
                    return (adapter.wrap)(value);
                }
                None => Outcome::Uncached(share.as_ref().map(|share| (share.to_any)(&result))),
            },
        };
        if let Some(lease) = lease {
            self.release(store, lease).await;
        }
        leader.publish(outcome);
        result
    }

    /// Writes `entry` (and its stale copy) with its index memberships, unless an invalidation
    /// came after the value began to be computed (see `engine::invalidate`).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn store(
        &self,
        store: &dyn Store,
        site: &'static Site,
        entry: &EntryKey,
        bytes: Bytes,
        typed: Option<Typed>,
        intent: Intent,
        counters: &Counters,
    ) {
        if bytes.len() > self.max_value_bytes {
            Counters::add(&counters.oversized);
            if site.first_oversized() {
                tracing::warn!(
                    function = site.path(),
                    size = bytes.len(),
                    max = self.max_value_bytes,
                    "cache: result larger than the maximum value size is not stored (logged once per function)"
                );
            }
            return;
        }
        let ttl = self.ttl(&site.spec.ttl);
        let mut writes = Vec::with_capacity(2);
        let mut lifetime = ttl;
        if let Some(window) = site.spec.stale_if_error {
            lifetime = ttl.saturating_add(window);
            writes.push(Write {
                key: key::stale_key(&entry.key),
                value: bytes.clone(),
                ttl: lifetime,
                typed: None,
                index: None,
            });
        }
        let sets = self
            .layout
            .indexes(entry, &site.identity().path, site.policy_path());
        let guard = Guard {
            names: self.layout.write_marks(entry, &sets),
            began: intent.began,
            window: MARK_WINDOW,
        };
        writes.push(Write {
            key: entry.key.clone(),
            value: bytes,
            ttl,
            typed,
            index: Some(Index {
                sets,
                ttl: lifetime,
            }),
        });
        match store.set_many(writes, Some(guard), intent.announce).await {
            Ok(true) => {}
            Ok(false) => Counters::add(&counters.superseded),
            Err(error) => self.store_failed(counters, "set", &error),
        }
    }

    /// The bytes stored for `entry`, without computing anything or counting a lookup.
    pub(crate) async fn peek(&self, site: &'static Site, entry: &EntryKey) -> Option<Bytes> {
        let store = self.store.as_deref()?;
        match store.get(&entry.key, Read::default()).await {
            Ok(found) => found.map(|found| found.value),
            Err(error) => {
                self.store_failed(&self.counters(site), "get", &error);
                None
            }
        }
    }

    /// The bytes stored at each of `keys`, in one round trip; store failures read as misses.
    pub(crate) async fn peek_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        let Some(store) = self.store.as_deref() else {
            return vec![None; keys.len()];
        };
        match store.get_many(keys).await {
            Ok(found) => found
                .into_iter()
                .map(|found| found.map(|found| found.value))
                .collect(),
            Err(error) => {
                if let Some(held_back) = self.store_errors.admit() {
                    tracing::warn!(operation = "get_many", %error, held_back, "cache: store operation failed; reading as misses");
                }
                vec![None; keys.len()]
            }
        }
    }

    /// Stores encoded `bytes` for `entry` (`#[cache_put]`, `CacheEntry::put`): a value the
    /// caller has just written to its source, so every process's local copy is dropped.
    ///
    /// The write's start on the store's clock is read here, after the put's own function ran:
    /// an invalidation by a concurrent writer of the same key that lands between this put's
    /// write to its source and this call is not seen (the put's value is written over it).
    /// Reading the clock before the function would need the expansion to ask the store first.
    pub(crate) async fn put(&self, site: &'static Site, entry: &EntryKey, bytes: Bytes) {
        let Some(store) = self.store.as_deref() else {
            return;
        };
        let counters = self.counters(site);
        match store.now().await {
            Ok(began) => {
                let intent = Intent {
                    began,
                    announce: true,
                };
                self.store(store, site, entry, bytes, None, intent, &counters)
                    .await;
            }
            Err(error) => self.store_failed(&counters, "time", &error),
        }
    }
}

/// Why an entry is written.
#[derive(Clone, Copy)]
pub(super) struct Intent {
    /// The store's clock before the value began to be computed: an invalidation at or after it
    /// refuses the write.
    pub(super) began: Stamp,
    /// Whether other processes' local copies must be dropped (a put replaces what they hold).
    pub(super) announce: bool,
}

impl Intent {
    /// A value computed on a miss or a refresh that began at `began`.
    pub(super) fn computed(began: Stamp) -> Self {
        Self {
            began,
            announce: false,
        }
    }
}
