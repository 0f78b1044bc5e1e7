//! The write half of get-or-set: a miss computed once (single flight, then the lease if the
//! site asks for it), and the entry stored with its TTL, stale copy and index memberships.

use std::future::Future;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::flight::{self, Outcome, Role};
use super::invalidate::MARK_WINDOW;
use super::lease::Lease;
use super::lookup::Lookup;
use super::site::Site;
use super::{Adapter, Engine, Share};
use crate::key::{self, EntryKey, Generations};
use crate::metrics::Counters;
use crate::store::{Basis, Began, Guard, Index, Read, Seen, Store, Typed, Write};

impl Engine {
    /// A miss: single flight in this process, the lease across processes if the site asks for
    /// it, then the function, then the store.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn compute<R, T, F>(
        &self,
        store: &dyn Store,
        site: &'static Site,
        entry: &EntryKey,
        miss: Miss,
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
            let follower = match self.flights.join(key, miss.mark) {
                Role::Leader(leader) => break Some(leader),
                Role::Follower(follower) => follower,
            };
            Counters::add(&counters.waited);
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
        let gens = miss.gens.unwrap_or_else(|| self.generations(site, entry));
        // The flight this call missed has stored its value by now: read it rather than run the
        // function a second time.
        if leader.came_late() && miss.write.is_some() {
            if let Lookup::Hit(value, _, _) = self
                .lookup(store, key, &gens, false, format, &adapter, counters)
                .await
            {
                Counters::add(&counters.waited);
                return (adapter.wrap)(value);
            }
        }
        let lease = match site.spec.lock {
            Some(lease) => match self.lease(store, key, &gens, lease, counters).await {
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
        // What the write of the result is based on, read before the function runs: an
        // invalidation after this moment refuses the write (or, in Redis, makes it invisible).
        let write = match miss.write {
            Some(basis) => {
                let ttl = self.ttl(&site.spec.ttl);
                match store.begin(key, &gens, ttl, basis).await {
                    Ok(began) => Some(began),
                    Err(error) => {
                        self.store_failed(counters, "begin", &error);
                        None
                    }
                }
            }
            None => None,
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
                    if let Some(began) = &write {
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
                .stale(store, site, entry, &adapter, &result, counters)
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
        intent: Intent<'_>,
        counters: &Counters,
    ) {
        counters.value_size(bytes.len());
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
        let basis = intent.began.basis.clone();
        if let Some(window) = site.spec.stale_if_error {
            writes.push(Write {
                key: key::stale_key(&entry.key),
                value: bytes.clone(),
                ttl: ttl.saturating_add(window),
                typed: None,
                index: None,
                basis: Basis {
                    stamp: basis.stamp,
                    seen: Seen::Unchecked,
                },
            });
        }
        // In-process, the entry joins index sets and the write is guarded by marks; Redis
        // checks generations and tombstones instead (`store::redis::generation`).
        let (index, guard) = if store.marks_writes() {
            let sets = self
                .layout
                .indexes(entry, &site.identity().path, site.policy_path());
            let guard = Guard {
                names: self.layout.write_marks(entry, &sets),
                began: intent.began.at,
                window: MARK_WINDOW,
            };
            let index = Index { sets };
            (Some(index), Some(guard))
        } else {
            self.layout.note_write(entry);
            (None, None)
        };
        writes.push(Write {
            key: entry.key.clone(),
            value: bytes,
            ttl,
            typed,
            index,
            basis,
        });
        match store.set_many(writes, guard, intent.announce).await {
            Ok(true) => {}
            Ok(false) => Counters::add(&counters.superseded),
            Err(error) => self.store_failed(counters, "set", &error),
        }
    }

    /// The bytes stored for `entry`, without computing anything or counting a lookup.
    pub(crate) async fn peek(&self, site: &'static Site, entry: &EntryKey) -> Option<Bytes> {
        let store = self.store.as_deref()?;
        let gens = self.generations(site, entry);
        let read = Read {
            gens: Some(&gens),
            ..Read::default()
        };
        match store.get(&entry.key, read).await {
            Ok(fetched) => fetched.found.map(|found| found.value),
            Err(error) => {
                self.store_failed(self.counters(site), "get", &error);
                None
            }
        }
    }

    /// The bytes stored for each of `entries` (of `sites`), in one round trip; store failures
    /// read as misses.
    pub(crate) async fn peek_many(
        &self,
        sites: &[&'static Site],
        entries: &[EntryKey],
    ) -> Vec<Option<Bytes>> {
        let Some(store) = self.store.as_deref() else {
            return vec![None; entries.len()];
        };
        let keys: Vec<String> = entries.iter().map(|entry| entry.key.clone()).collect();
        let gens: Vec<Generations> = sites
            .iter()
            .zip(entries)
            .map(|(site, entry)| self.generations(site, entry))
            .collect();
        match store.get_many(&keys, &gens).await {
            Ok(found) => found
                .into_iter()
                .map(|fetched| fetched.found.map(|found| found.value))
                .collect(),
            Err(error) => {
                if let Some(held_back) = self.store_errors.admit() {
                    tracing::warn!(operation = "get_many", %error, held_back, "cache: store operation failed; reading as misses");
                }
                vec![None; entries.len()]
            }
        }
    }

    /// Stores encoded `bytes` for `entry` (`#[cache_put]`, `CacheEntry::put`): a value the
    /// caller has just written to its source, so every process's local copy is dropped.
    ///
    /// The write's basis is read here, after the put's own function ran: an invalidation by a
    /// concurrent writer of the same key that lands between this put's write to its source and
    /// this call is not seen (the put's value is written over it). Reading it before the
    /// function would need the expansion to ask the store first.
    pub(crate) async fn put(&self, site: &'static Site, entry: &EntryKey, bytes: Bytes) {
        let Some(store) = self.store.as_deref() else {
            return;
        };
        let counters = self.counters(site);
        let gens = self.generations(site, entry);
        let ttl = self.ttl(&site.spec.ttl);
        match store.begin(&entry.key, &gens, ttl, Basis::default()).await {
            Ok(began) => {
                let intent = Intent {
                    began: &began,
                    announce: true,
                };
                self.store(store, site, entry, bytes, None, intent, counters)
                    .await;
            }
            Err(error) => self.store_failed(counters, "begin", &error),
        }
    }
}

/// How a miss goes on after its lookup.
pub(super) struct Miss {
    /// The basis of the write, or `None` when the store was found unreachable (no write).
    pub(super) write: Option<Basis>,
    /// The generations the lookup read, if it asked Redis.
    pub(super) gens: Option<Generations>,
    /// [`Flights::mark`](super::flight::Flights::mark) from before the lookup.
    pub(super) mark: u64,
}

/// Why an entry is written.
pub(super) struct Intent<'a> {
    /// What the store said before the value began to be computed: an invalidation after it
    /// refuses the write.
    pub(super) began: &'a Began,
    /// Whether other processes' local copies must be dropped (a put replaces what they hold).
    pub(super) announce: bool,
}

impl<'a> Intent<'a> {
    /// A value computed on a miss or a refresh that began at `began`.
    pub(super) fn computed(began: &'a Began) -> Self {
        Self {
            began,
            announce: false,
        }
    }
}
