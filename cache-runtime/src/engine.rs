//! The get-or-set engine and [`Cache`], the handle to one configured cache.
//!
//! Per call: look the key up; on a hit decode and return; on a miss (or any store failure, or
//! bytes that do not decode) join the key's single flight, run the function once, store a
//! cacheable result with its TTL and hand it to every waiting caller. Store failures are
//! counted and logged, never returned.

use std::collections::HashSet;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::flight::{Flights, Outcome, Role};
use crate::invalidation::{self, Indexes, InvalidateError};
use crate::key::EntryKey;
use crate::metrics::{Counters, LogGate, Metrics, Stats};
use crate::policy::TtlOverrides;
use crate::private::shape::{Adapter, Share};
use crate::private::{Eviction, Site, Ttl};
use crate::store::{stale_key, Backend, Found, Index, Store, StoreError, Typed, Write};

const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub(crate) struct Engine {
    /// `None` when caching is disabled (`CACHE_ENABLED=false`).
    pub(crate) backend: Option<Backend>,
    pub(crate) prefix: String,
    pub(crate) overrides: TtlOverrides,
    pub(crate) max_value_bytes: usize,
    metrics: Metrics,
    flights: Flights,
    store_errors: LogGate,
    undecodable: LogGate,
    /// Keys with a background refresh under way.
    refreshing: Mutex<HashSet<String>>,
    /// Makes lease tokens unique across processes; the sequence, within this one.
    lease_seed: u64,
    lease_sequence: AtomicU64,
}

/// A configured cache: a store, a key prefix, TTL overrides and counters.
///
/// Cheap to clone. Build one with [`crate::CacheBuilder`] or [`crate::init_from_env`], then
/// either install it for the whole process ([`Cache::install`]) or use it for one future
/// ([`Cache::scope`]); `#[cached]` functions use the scoped cache first, then the installed one.
#[derive(Clone)]
pub struct Cache {
    pub(crate) engine: Arc<Engine>,
}

static INSTALLED: ArcSwapOption<Engine> = ArcSwapOption::const_empty();

tokio::task_local! {
    static SCOPED: Arc<Engine>;
}

impl Cache {
    pub(crate) fn new(
        backend: Option<Backend>,
        prefix: String,
        overrides: TtlOverrides,
        max_value_bytes: usize,
    ) -> Self {
        Self {
            engine: Arc::new(Engine {
                backend,
                prefix,
                overrides,
                max_value_bytes,
                metrics: Metrics::default(),
                flights: Flights::default(),
                store_errors: LogGate::new(LOG_INTERVAL),
                undecodable: LogGate::new(LOG_INTERVAL),
                refreshing: Mutex::default(),
                lease_seed: RandomState::new().hash_one(std::process::id()),
                lease_sequence: AtomicU64::new(0),
            }),
        }
    }

    /// Makes this the process-wide cache of every `#[cached]` function, replacing any other.
    pub fn install(&self) {
        INSTALLED.store(Some(Arc::clone(&self.engine)));
    }

    /// Runs `future` with this cache as the one `#[cached]` functions use, whatever is installed.
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        SCOPED.scope(Arc::clone(&self.engine), future).await
    }

    /// The state of the store and the counters of every policy used so far.
    pub fn stats(&self) -> Stats {
        let engine = &self.engine;
        Stats {
            backend: engine.backend.as_ref().map_or("disabled", Backend::name),
            breaker: engine
                .backend
                .as_ref()
                .map_or(crate::BreakerState::Closed, Backend::breaker_state),
            policies: engine.metrics.snapshot(),
        }
    }

    /// The cache `#[cached]` functions use here: the scoped one, else the installed one.
    pub fn current() -> Option<Cache> {
        Engine::current().map(|engine| Cache { engine })
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field(
                "backend",
                &self
                    .engine
                    .backend
                    .as_ref()
                    .map_or("disabled", Backend::name),
            )
            .field("prefix", &self.engine.prefix)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub(crate) fn current() -> Option<Arc<Engine>> {
        SCOPED
            .try_with(Arc::clone)
            .ok()
            .or_else(|| INSTALLED.load_full())
    }

    pub(crate) fn ttl(&self, ttl: &Ttl) -> Duration {
        match ttl {
            Ttl::Policy(policy) => self.overrides.ttl(*policy),
            Ttl::Fixed(duration) => *duration,
        }
    }

    pub(crate) fn counters(&self, site: &Site) -> Arc<Counters> {
        self.metrics.counters(site.label())
    }

    /// The heart of `#[cached]`: answer from the store, or run `body` once and store its result.
    pub(crate) async fn get_or_set<R, T, F>(
        &self,
        site: &'static Site,
        entry: EntryKey,
        adapter: Adapter<R, T>,
        share: Option<Share<R>>,
        body: F,
    ) -> R
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = R>,
    {
        self.serve(site, entry, adapter, share, body, false, |_, _, _| {})
            .await
    }

    /// [`Engine::get_or_set`] with early refresh: a hit in the last part of its TTL is returned
    /// at once and `body` (this very call's function) recomputes it in the background, one
    /// refresh per key at a time.
    pub(crate) async fn get_or_set_refreshing<R, T, F>(
        self: Arc<Self>,
        site: &'static Site,
        entry: EntryKey,
        adapter: Adapter<R, T>,
        share: Option<Share<R>>,
        body: F,
    ) -> R
    where
        R: Send + 'static,
        T: Serialize + DeserializeOwned + 'static,
        F: Future<Output = R> + Send + 'static,
    {
        let engine = Arc::clone(&self);
        let on_hit = move |entry: EntryKey, body: F, remaining: Option<Duration>| {
            if engine.refresh_due(site, remaining) {
                engine.spawn_refresh(site, entry, adapter, body);
            }
        };
        self.serve(site, entry, adapter, share, body, true, on_hit)
            .await
    }

    /// Lookup, then on a hit `on_hit` (given the unused `body`), else [`Engine::compute`].
    #[allow(clippy::too_many_arguments)]
    async fn serve<R, T, F>(
        &self,
        site: &'static Site,
        entry: EntryKey,
        adapter: Adapter<R, T>,
        share: Option<Share<R>>,
        body: F,
        with_remaining: bool,
        on_hit: impl FnOnce(EntryKey, F, Option<Duration>),
    ) -> R
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = R>,
    {
        let Some(store) = &self.backend else {
            return body.await;
        };
        let counters = self.counters(site);
        let lookup = self
            .lookup(store, &entry.key, with_remaining, &adapter, &counters)
            .await;
        if let Lookup::Hit(value, remaining) = lookup {
            Counters::add(&counters.hits);
            on_hit(entry, body, remaining);
            return (adapter.wrap)(value);
        }
        Counters::add(&counters.misses);
        let write = !matches!(lookup, Lookup::Unreachable);
        self.compute(store, site, &entry, write, adapter, share, body, &counters)
            .await
    }

    /// Recomputes `entry` with `body` in a background task, unless a refresh of it is under way.
    fn spawn_refresh<R, T, F>(
        self: &Arc<Self>,
        site: &'static Site,
        entry: EntryKey,
        adapter: Adapter<R, T>,
        body: F,
    ) where
        R: Send + 'static,
        T: Serialize + 'static,
        F: Future<Output = R> + Send + 'static,
    {
        let (Ok(runtime), Some(guard)) = (
            tokio::runtime::Handle::try_current(),
            RefreshGuard::claim(self, &entry.key),
        ) else {
            return;
        };
        // The refresh runs in its own task: give it this call's tenant and cache, so that the
        // function computes what it would have computed here.
        let engine = Arc::clone(self);
        let tenant = crate::tenant::current();
        let refresh = async move {
            let _guard = guard;
            engine.refresh(site, &entry, adapter, body).await;
        };
        runtime.spawn(SCOPED.scope(Arc::clone(self), async move {
            match tenant {
                Some(tenant) => crate::tenant::scope(tenant, refresh).await,
                None => refresh.await,
            }
        }));
    }

    fn refresh_due(&self, site: &Site, remaining: Option<Duration>) -> bool {
        let Some(remaining) = remaining else {
            return false;
        };
        let ttl = self.ttl(&site.ttl);
        let left_permille = 1000 - u128::from(site.refresh_permille.min(1000));
        remaining.as_millis() * 1000 < ttl.as_millis() * left_permille
    }

    async fn refresh<R, T>(
        &self,
        site: &'static Site,
        entry: &EntryKey,
        adapter: Adapter<R, T>,
        body: impl Future<Output = R>,
    ) where
        T: Serialize,
    {
        let Some(store) = &self.backend else {
            return;
        };
        let counters = self.counters(site);
        let result = body.await;
        if let Some(value) = (adapter.get)(&result) {
            match codec::encode(value) {
                Ok(bytes) => {
                    Counters::add(&counters.refreshed);
                    let typed = adapter.typing.map(|typing| (typing.to_any)(value));
                    self.store(store, site, entry, bytes, typed, &counters)
                        .await;
                }
                Err(error) => self.log_unencodable(site, &error),
            }
        }
    }

    /// A miss: single flight in this process, the lease across processes if the site asks for
    /// it, then the function, then the store.
    #[allow(clippy::too_many_arguments)]
    async fn compute<R, T, F>(
        &self,
        store: &Backend,
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
        let leader = loop {
            let follower = match self.flights.join(key) {
                Role::Leader(leader) => break Some(leader),
                Role::Follower(follower) => follower,
            };
            match follower.outcome().await.as_deref() {
                Some(Outcome::Value(bytes)) => {
                    if let Ok(value) = codec::decode::<T>(bytes) {
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
                    site.name
                ))),
                // The leader was cancelled: elect a new one.
                None => continue,
            }
        };
        let Some(leader) = leader else {
            return body.await;
        };
        let lease = match site.lock {
            Some(lease) => match self.lease(store, key, lease, counters).await {
                Lease::Filled(bytes) => {
                    if let Ok(value) = codec::decode::<T>(&bytes) {
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
        let result = body.await;
        let outcome = match (adapter.get)(&result) {
            // Nothing to write (the store is unreachable) and nobody waiting: skip the encoding,
            // the main cost of a call while the breaker is open.
            Some(_) if !write && !leader.has_followers() => Outcome::Uncached(None),
            Some(value) => match codec::encode(value) {
                Ok(bytes) => {
                    // When the read just found the store unreachable, a write would only add
                    // its own timeout to this call.
                    if write {
                        let typed = adapter.typing.map(|typing| (typing.to_any)(value));
                        self.store(store, site, entry, bytes.clone(), typed, counters)
                            .await;
                    }
                    Outcome::Value(bytes)
                }
                Err(error) => {
                    self.log_unencodable(site, &error);
                    Outcome::Uncached(None)
                }
            },
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

    async fn lookup<R, T: DeserializeOwned>(
        &self,
        store: &Backend,
        key: &str,
        with_remaining: bool,
        adapter: &Adapter<R, T>,
        counters: &Counters,
    ) -> Lookup<T> {
        let decode = adapter.typing.map(|typing| typing.decode_any);
        match store.get_decoded(key, with_remaining, decode).await {
            Ok(Some(found)) => {
                if let (Some(typed), Some(typing)) = (&found.typed, &adapter.typing) {
                    if let Some(value) = (typing.from_any)(&**typed) {
                        return Lookup::Hit(value, found.remaining);
                    }
                }
                self.decode(key, found, counters)
            }
            Ok(None) => Lookup::Miss,
            Err(error) => {
                self.store_failed(counters, "get", &error);
                if error.is_outage() {
                    Lookup::Unreachable
                } else {
                    Lookup::Miss
                }
            }
        }
    }

    /// Decodes a found entry; bytes that are not a `T` are a counted miss.
    fn decode<T: DeserializeOwned>(
        &self,
        key: &str,
        found: Found,
        counters: &Counters,
    ) -> Lookup<T> {
        match codec::decode::<T>(&found.value) {
            Ok(value) => Lookup::Hit(value, found.remaining),
            Err(error) => {
                Counters::add(&counters.undecodable);
                if let Some(held_back) = self.undecodable.admit() {
                    tracing::warn!(key, %error, held_back, "cache: entry does not decode as the function's type; treating it as a miss and overwriting it");
                }
                Lookup::Miss
            }
        }
    }

    /// The stale copy of a failed call's entry, if the site keeps one and it is still there.
    async fn stale<R, T: DeserializeOwned>(
        &self,
        store: &Backend,
        site: &Site,
        key: &str,
        adapter: &Adapter<R, T>,
        result: &R,
        counters: &Counters,
    ) -> Option<(bytes::Bytes, T)> {
        site.stale_if_error?;
        if !(adapter.failed)(result) {
            return None;
        }
        match store.get(&stale_key(key), false).await {
            Ok(Some(found)) => {
                let value = codec::decode::<T>(&found.value).ok()?;
                Counters::add(&counters.stale);
                Some((found.value, value))
            }
            Ok(None) => None,
            Err(error) => {
                self.store_failed(counters, "get", &error);
                None
            }
        }
    }

    /// Takes the cross-process lease for `key`, or waits (bounded by the lease) for its
    /// holder to fill the entry.
    async fn lease(
        &self,
        store: &Backend,
        key: &str,
        lease: Duration,
        counters: &Counters,
    ) -> Lease {
        let lock = format!("{key}#lock");
        let token = self.lease_token();
        let deadline = tokio::time::Instant::now() + lease;
        let mut pause = Duration::from_millis(5);
        loop {
            match store.try_lock(&lock, &token, lease).await {
                Ok(true) => {
                    // Another process may have filled the entry between our miss and the lease.
                    return match store.get(key, false).await {
                        Ok(Some(found)) => {
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
            match store.get(key, false).await {
                Ok(Some(found)) => return Lease::Filled(found.value),
                Ok(None) => {}
                Err(error) => {
                    self.store_failed(counters, "get", &error);
                    return Lease::Unavailable;
                }
            }
        }
    }

    async fn release(&self, store: &Backend, held: Held) {
        let _ = store.unlock(&held.lock, &held.token).await;
    }

    fn lease_token(&self) -> String {
        let sequence = self.lease_sequence.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{sequence:016x}", self.lease_seed)
    }

    async fn store(
        &self,
        store: &Backend,
        site: &Site,
        entry: &EntryKey,
        bytes: bytes::Bytes,
        typed: Option<Typed>,
        counters: &Counters,
    ) {
        if bytes.len() > self.max_value_bytes {
            Counters::add(&counters.oversized);
            if site.first_oversized() {
                tracing::warn!(
                    function = site.name,
                    size = bytes.len(),
                    max = self.max_value_bytes,
                    "cache: result larger than the maximum value size is not stored (logged once per function)"
                );
            }
            return;
        }
        let ttl = self.ttl(&site.ttl);
        let mut writes = Vec::with_capacity(2);
        let mut lifetime = ttl;
        if let Some(window) = site.stale_if_error {
            lifetime = ttl + window;
            writes.push(Write {
                key: stale_key(&entry.key),
                value: bytes.clone(),
                ttl: lifetime,
                typed: None,
            });
        }
        writes.push(Write {
            key: entry.key.clone(),
            value: bytes,
            ttl,
            typed,
        });
        let indexes = Indexes {
            prefix: &self.prefix,
            tenant: entry.tenant_segment(&self.prefix),
            function: entry.function,
            policy: site.policy_name(),
        };
        let index = Index {
            member: entry.key.clone(),
            sets: indexes.all(&entry.tags),
            ttl: lifetime,
        };
        if let Err(error) = store.set(writes, Some(index)).await {
            self.store_failed(counters, "set", &error);
        }
    }

    /// The bytes stored for `entry`, without computing anything or counting a lookup.
    pub(crate) async fn peek(&self, site: &Site, entry: &EntryKey) -> Option<bytes::Bytes> {
        let store = self.backend.as_ref()?;
        match store.get(&entry.key, false).await {
            Ok(found) => found.map(|found| found.value),
            Err(error) => {
                self.store_failed(&self.counters(site), "get", &error);
                None
            }
        }
    }

    /// Stores encoded `bytes` for `entry` unconditionally (`#[cache_put]`, `CacheEntry::put`).
    pub(crate) async fn put(&self, site: &Site, entry: &EntryKey, bytes: bytes::Bytes) {
        if let Some(store) = &self.backend {
            let counters = self.counters(site);
            self.store(store, site, entry, bytes, None, &counters).await;
        }
    }

    /// Deletes what a `#[cache_evict]` names for the call that produced `entry`.
    pub(crate) async fn evict(
        &self,
        entry: &EntryKey,
        eviction: &Eviction,
    ) -> Result<(), InvalidateError> {
        let tenant = entry.tenant_segment(&self.prefix);
        if eviction.key {
            self.delete_entries(vec![entry.key.clone()]).await?;
        }
        for tag in &entry.tags {
            self.delete_index(invalidation::tag_index(&self.prefix, tenant, tag))
                .await?;
        }
        if eviction.tenant_entries {
            self.delete_index(invalidation::tenant_index(&self.prefix, tenant, "all"))
                .await?;
        }
        if let Some(function) = eviction.function {
            self.delete_function(function).await?;
        }
        Ok(())
    }

    /// Deletes every entry of the function at `path`, every tenant.
    pub(crate) async fn delete_function(&self, path: &str) -> Result<u64, InvalidateError> {
        self.delete_index(invalidation::function_index(&self.prefix, path))
            .await
    }

    /// Deletes entries by key, with their stale copies, in one round trip.
    pub(crate) async fn delete_entries(&self, keys: Vec<String>) -> Result<u64, InvalidateError> {
        let Some(store) = &self.backend else {
            return Ok(0);
        };
        Ok(store.delete(keys).await?)
    }

    /// Deletes every entry in one index set.
    pub(crate) async fn delete_index(&self, set: String) -> Result<u64, InvalidateError> {
        match &self.backend {
            Some(store) => Ok(store.delete_index(&set).await?),
            None => Ok(0),
        }
    }

    /// Deletes every key starting with `prefix`.
    pub(crate) async fn delete_prefix(&self, prefix: &str) -> Result<u64, InvalidateError> {
        match &self.backend {
            Some(store) => Ok(store.delete_prefix(prefix).await?),
            None => Ok(0),
        }
    }

    fn store_failed(&self, counters: &Counters, operation: &'static str, error: &StoreError) {
        Counters::add(&counters.errors);
        if matches!(error, StoreError::BreakerOpen) {
            return;
        }
        if let Some(held_back) = self.store_errors.admit() {
            tracing::warn!(operation, %error, held_back, "cache: store operation failed; the function's own result is returned");
        }
    }

    fn log_unencodable(&self, site: &Site, error: &serde_json::Error) {
        if site.first_unencodable() {
            tracing::warn!(function = site.name, %error, "cache: result cannot be encoded as JSON and is not cached (logged once per function)");
        }
    }
}

/// What a lookup found.
enum Lookup<T> {
    /// A decodable entry, with its remaining TTL when asked for.
    Hit(T, Option<Duration>),
    /// No entry, or one that does not decode, or a refused command: compute and store.
    Miss,
    /// The store is down, slow or behind an open breaker: compute, and do not wait for a write.
    Unreachable,
}

/// The outcome of asking for the cross-process lease.
enum Lease {
    /// We hold it: compute, store, release.
    Held(Held),
    /// Another process filled the entry while we waited.
    Filled(bytes::Bytes),
    /// The store failed or the wait ran out: compute without it.
    Unavailable,
}

struct Held {
    lock: String,
    token: String,
}

/// Marks a key as being refreshed; dropping it (when the refresh ends) clears the mark.
struct RefreshGuard {
    engine: Arc<Engine>,
    key: String,
}

impl RefreshGuard {
    fn claim(engine: &Arc<Engine>, key: &str) -> Option<Self> {
        let mut refreshing = engine
            .refreshing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        refreshing.insert(key.to_owned()).then(|| RefreshGuard {
            engine: Arc::clone(engine),
            key: key.to_owned(),
        })
    }
}

impl Drop for RefreshGuard {
    fn drop(&mut self) {
        self.engine
            .refreshing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.key);
    }
}
