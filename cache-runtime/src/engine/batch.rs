//! Get-or-set over many inputs at once (`#[cached(batch = …)]`), in two steps: [`Engine::
//! lookup_many`] reads every input's entry (one `MGET` in Redis) and the basis of each write,
//! then [`Batch::complete`] calls the function once with the inputs that missed (not at all when
//! none did) and stores what it returned for them, every write issued at once (pipelined on the
//! one multiplexed connection). The steps are two so that the expansion can drop the closure
//! that builds keys, which borrows the other arguments, before the body takes them.
//!
//! What a batch does not do, unlike a single call: join a single flight (two overlapping batches
//! both compute what they both miss), take a lease, keep a stale copy or refresh ahead; the
//! attribute rejects the options that ask for those. A store that fails reads as a miss of every
//! input, and one that is unreachable is not written to, as for single calls.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use futures_util::future::join_all;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::lookup::Lookup;
use super::site::Site;
use super::write::Intent;
use super::{Adapter, Engine};
use crate::key::{EntryKey, Generations};
use crate::metrics::Timer;
use crate::store::{Began, Fetched};

/// A batch between its lookup and its computation.
pub struct Batch<K, V, S> {
    /// `None` when the batch runs uncached (no cache, caching disabled).
    engine: Option<Arc<Engine>>,
    site: &'static Site,
    /// The hits.
    found: HashMap<K, V, S>,
    /// The inputs the function is called with.
    missing: Vec<K>,
    /// The entries to write once computed: a copy of their input and the basis of the write.
    writes: Vec<(K, EntryKey, Began)>,
    timer: Timer,
}

impl Engine {
    /// Reads the entry of each input (`None`: the input runs uncached) in one round trip, and,
    /// for each miss, the basis of its write, before the function runs: an invalidation after
    /// this moment refuses the write, as for a single call.
    pub(crate) async fn lookup_many<K, V, S>(
        self: Arc<Self>,
        site: &'static Site,
        inputs: Vec<(K, Option<EntryKey>)>,
    ) -> Batch<K, V, S>
    where
        K: Eq + Hash + Clone,
        V: DeserializeOwned,
        S: BuildHasher + Default,
    {
        let timer = Timer::start();
        let mut batch = Batch {
            engine: None,
            site,
            found: HashMap::with_capacity_and_hasher(inputs.len(), S::default()),
            missing: Vec::with_capacity(inputs.len()),
            writes: Vec::new(),
            timer,
        };
        let Some(store) = self.store.as_deref() else {
            batch.missing = inputs.into_iter().map(|(input, _)| input).collect();
            return batch;
        };
        let counters = self.counters(site);
        let adapter = Adapter::<V, V>::plain();
        // The inputs with a key, their entries and generations, side by side: the store reads
        // the keys and generations where they are.
        let mut keyed: Vec<(K, EntryKey)> = Vec::with_capacity(inputs.len());
        let mut keys: Vec<String> = Vec::with_capacity(inputs.len());
        let mut gens: Vec<Generations> = Vec::with_capacity(inputs.len());
        let mut unkeyed = Vec::new();
        let mut seen = std::collections::HashSet::with_capacity(inputs.len());
        for (input, entry) in inputs {
            match entry {
                // An input given twice is looked up, computed and written once.
                Some(entry) if !seen.insert(entry.key.clone()) => {}
                Some(entry) => {
                    gens.push(self.generations(site, &entry));
                    keys.push(entry.key.clone());
                    keyed.push((input, entry));
                }
                None => unkeyed.push(input),
            }
        }
        for _ in &unkeyed {
            counters.miss();
        }
        batch.missing = unkeyed;
        // As in a single call: while an invalidation waits for the store, nothing is read from it.
        let fetched = if keyed.is_empty() || (self.pending.any() && !self.replay().await) {
            None
        } else {
            match store.get_many(&keys, &gens).await {
                Ok(fetched) if fetched.len() == keys.len() => Some(fetched),
                Ok(_) => None,
                Err(error) => {
                    self.store_failed(counters, "get", &error);
                    // A refused command is a miss to compute and store; an outage writes nothing.
                    (!error.is_outage()).then(|| keys.iter().map(|_| Fetched::miss()).collect())
                }
            }
        };
        let Some(fetched) = fetched else {
            for (input, _) in keyed {
                counters.miss();
                batch.missing.push(input);
            }
            batch.engine = Some(self);
            return batch;
        };
        let mut bases = Vec::new();
        for (((input, entry), gens), fetched) in keyed.into_iter().zip(gens).zip(fetched) {
            let lookup = match fetched.found {
                Some(found) => {
                    let format = self.format(site);
                    self.decode(&entry.key, found, fetched.basis, format, &adapter, counters)
                }
                None => Lookup::Miss(fetched.basis),
            };
            match lookup {
                Lookup::Hit(value, _, _) => {
                    counters.hit(timer);
                    batch.found.insert(input, value);
                }
                Lookup::Miss(basis) => {
                    counters.miss();
                    bases.push((input.clone(), entry, gens, basis));
                    batch.missing.push(input);
                }
                Lookup::Unreachable => {
                    counters.miss();
                    batch.missing.push(input);
                }
            }
        }
        let ttl = self.ttl(&site.spec.ttl);
        let began = join_all(bases.into_iter().map(|(input, entry, gens, basis)| {
            let engine = &self;
            async move {
                match store.begin(&entry.key, &gens, ttl, basis).await {
                    Ok(began) => Some((input, entry, began)),
                    Err(error) => {
                        engine.store_failed(counters, "begin", &error);
                        None
                    }
                }
            }
        }))
        .await;
        batch.writes = began.into_iter().flatten().collect();
        batch.engine = Some(self);
        batch
    }
}

impl<K, V, S: Default> Batch<K, V, S> {
    /// A batch without a cache: every input goes to the function.
    pub(crate) fn uncached(site: &'static Site, inputs: Vec<K>) -> Self {
        Batch {
            engine: None,
            site,
            found: HashMap::with_hasher(S::default()),
            missing: inputs,
            writes: Vec::new(),
            timer: Timer::start(),
        }
    }
}

impl<K, V, S> Batch<K, V, S>
where
    K: Eq + Hash,
    V: Serialize,
    S: BuildHasher + Default,
{
    /// Runs `body` with the inputs that missed, unless none did, stores what it returned for
    /// them and answers the hits and its results together. An input `body` leaves out is
    /// absent from the answer and not stored.
    pub async fn complete<F, Fut>(self, body: F) -> HashMap<K, V, S>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = HashMap<K, V, S>>,
    {
        let Batch {
            engine,
            site,
            mut found,
            missing,
            writes,
            timer,
        } = self;
        if missing.is_empty() {
            return found;
        }
        let missed = missing.len();
        let computed = body(missing).await;
        if let Some(engine) = engine.as_deref() {
            engine.store_batch(site, &computed, writes).await;
            let counters = engine.counters(site);
            for _ in 0..missed {
                counters.missed(timer);
            }
        }
        found.extend(computed);
        found
    }
}

impl Engine {
    /// Stores the value `computed` holds for each of `writes`, all writes at once.
    async fn store_batch<K, V, S>(
        &self,
        site: &'static Site,
        computed: &HashMap<K, V, S>,
        writes: Vec<(K, EntryKey, Began)>,
    ) where
        K: Eq + Hash,
        V: Serialize,
        S: BuildHasher,
    {
        let Some(store) = self.store.as_deref() else {
            return;
        };
        let counters = self.counters(site);
        let format = self.format(site);
        let stores = writes.into_iter().filter_map(|(input, entry, began)| {
            let bytes = match format.encode(computed.get(&input)?) {
                Ok(bytes) => bytes,
                Err(error) => {
                    self.log_unencodable(site, &error);
                    return None;
                }
            };
            Some(async move {
                let intent = Intent::computed(&began);
                self.store(store, site, &entry, bytes, None, intent, counters)
                    .await;
            })
        });
        join_all(stores).await;
    }
}
