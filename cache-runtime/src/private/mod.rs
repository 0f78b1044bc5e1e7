//! What `#[cached]` expansions call. Not a public API: names and signatures here change
//! without notice.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::codec::Format;
pub use crate::engine::batch::Batch;
pub use crate::engine::site::{Eviction, Site, Spec, Ttl};
use crate::engine::trace::{self, Outcome};
use crate::engine::Engine;
use crate::key::{EntryKey, KeyBuilder};
pub use crate::keyspace::{Keyspace, KeyspaceKey};
use crate::metrics::Counters;
use crate::tenant;

/// A tenant given by an argument (`tenant = arg`).
pub fn tenant_arg<T: AsRef<str> + ?Sized>(tenant: &T) -> &str {
    tenant.as_ref()
}

/// One call of a `#[cached]` function, or one companion (`<name>_cache(…)`): the key under
/// construction. The cache in use and the scope's tenant are read when the key is used (the call
/// runs, the companion's operation runs), not when the `Call` is made, so a companion made
/// outside `tenant::scope`/`Cache::scope` and awaited inside acts on that scope's entry.
pub struct Call {
    site: &'static Site,
    /// `None` once an argument could not be written: the call runs uncached.
    key: Option<KeyBuilder>,
}

static WARNED_UNINITIALISED: AtomicBool = AtomicBool::new(false);

impl Call {
    /// Starts a call; `tenant` is a tenant given by an argument (`tenant = arg`).
    pub fn begin(site: &'static Site, tenant: Option<&str>) -> Call {
        Call {
            site,
            key: Some(KeyBuilder::new(tenant)),
        }
    }

    /// Whether the key is wanted: false once an argument could not be written into it. (Whether
    /// a cache is in use is only known when the key is used, so until then it always is.)
    pub fn is_active(&self) -> bool {
        self.key.is_some()
    }

    /// Appends literal template text, checked at compile time.
    pub fn text(&mut self, text: &'static str) {
        if let Some(key) = &mut self.key {
            key.text(text);
        }
    }

    /// Starts a tag named `name`: the following `arg`s are its values.
    pub fn tag(&mut self, name: &'static str) {
        if let Some(key) = &mut self.key {
            key.tag(name);
        }
    }

    /// Appends the function's identity: the start of a derived key.
    pub fn function_name(&mut self) {
        if let Some(key) = &mut self.key {
            key.function(&self.site.identity().text);
        }
    }

    /// Appends the instance of a generic function (or of a function of a generic impl) to a
    /// derived key; `closure` is the type name of a closure in the function. Nothing for a
    /// function outside generics.
    pub fn instance(&mut self, closure: &'static str) {
        if self.key.is_none() {
            return;
        }
        if let Some(path) = instance::instance_path(closure, &self.site.identity().path) {
            self.arg(path.as_str());
        }
    }

    /// Appends one argument value, escaped (to a tag: after a `:`).
    pub fn arg<A: KeyArg + ?Sized>(&mut self, value: &A) {
        if let Some(key) = &mut self.key {
            if let Err(error) = key.arg(value) {
                tracing::warn!(function = self.site.path(), %error, "cache: an argument could not be written into the key; this call runs uncached");
                self.key = None;
            }
        }
    }

    /// Finishes the key and runs the get-or-set.
    pub async fn run<R, T, F>(
        self,
        adapter: shape::Adapter<R, T>,
        share: Option<shape::Share<R>>,
        body: F,
    ) -> R
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = R>,
    {
        let span = trace::get_or_set(self.site);
        match self.finish_storable::<R, T>() {
            Some((engine, site, key)) => {
                trace::record_key(&span, &key.key);
                let call = engine.get_or_set(site, key, adapter, share, body, &span);
                call.instrument(span.clone()).await
            }
            None => {
                trace::record(&span, Outcome::Bypass);
                body.instrument(span).await
            }
        }
    }

    /// [`Call::run`] for `refresh_ahead` sites: the function may run in the background, so its
    /// future must be `Send + 'static` (owned arguments).
    pub async fn run_refreshing<R, T, F>(
        self,
        adapter: shape::Adapter<R, T>,
        share: Option<shape::Share<R>>,
        body: F,
    ) -> R
    where
        R: Send + 'static,
        T: Serialize + DeserializeOwned + 'static,
        F: Future<Output = R> + Send + 'static,
    {
        let span = trace::get_or_set(self.site);
        match self.finish_storable::<R, T>() {
            Some((engine, site, key)) => {
                trace::record_key(&span, &key.key);
                let call = engine.get_or_set_refreshing(site, key, adapter, share, body, &span);
                call.instrument(span.clone()).await
            }
            None => {
                trace::record(&span, Outcome::Bypass);
                body.instrument(span).await
            }
        }
    }

    /// `#[cached(batch = …)]`, first step: reads the entry of each input, whose key `key`
    /// builds, in one round trip. Inputs whose entry is not in use (no cache, an argument that
    /// cannot be a key, no tenant where one is required) go to the function and are not stored.
    /// See `engine::batch`.
    pub async fn lookup_many<K, V, S>(
        site: &'static Site,
        inputs: Vec<K>,
        key: impl Fn(&K) -> Call,
    ) -> Batch<K, V, S>
    where
        K: Eq + std::hash::Hash + Clone,
        V: DeserializeOwned,
        S: std::hash::BuildHasher + Default,
    {
        let span = trace::get_or_set(site);
        let Some(engine) = Engine::current().filter(|engine| engine.enabled()) else {
            trace::record(&span, Outcome::Bypass);
            return Batch::uncached(site, inputs);
        };
        let inputs = inputs
            .into_iter()
            .map(|input| {
                let entry = key(&input).finish().map(|(_, _, entry)| entry);
                (input, entry)
            })
            .collect();
        engine.lookup_many(site, inputs).instrument(span).await
    }

    /// The full key of this call in the cache and tenant in use here, `None` when none is.
    pub(crate) fn full_key(&self) -> Option<String> {
        let (_, entry) = resolve(self.site, self.key.clone()?, false)?;
        Some(entry.key)
    }

    /// Deletes this call's entry.
    pub(crate) async fn invalidate(
        self,
    ) -> Result<bool, crate::engine::invalidate::InvalidateError> {
        match self.finish() {
            Some((engine, _, entry)) => {
                let deleted = engine.delete_keys(vec![entry.key]);
                Ok(trace::invalidation("key", deleted).await? > 0)
            }
            None => Ok(false),
        }
    }

    /// Deletes every entry of this call's function, for every tenant.
    pub(crate) async fn invalidate_function(
        self,
    ) -> Result<u64, crate::engine::invalidate::InvalidateError> {
        match self.finish() {
            Some((engine, site, _)) => {
                trace::invalidation("function", engine.delete_function(site)).await
            }
            None => Ok(0),
        }
    }

    /// Reads this call's entry without computing it, with the format to decode it in.
    pub(crate) async fn peek_bytes(self) -> Option<(bytes::Bytes, Format)> {
        let (engine, site, entry) = self.finish()?;
        let bytes = engine.peek(site, &entry).await?;
        Some((bytes, engine.format(site)))
    }

    /// Reads the entries of `calls` without computing them: one `MGET` per cache in use.
    pub(crate) async fn peek_many(calls: Vec<Call>) -> Vec<Option<(bytes::Bytes, Format)>> {
        let mut found = vec![None; calls.len()];
        // The keys (with their positions) of each cache, in the order the caches first appear.
        type Batch = (Arc<Engine>, Vec<(usize, &'static Site, EntryKey)>);
        let mut batches: Vec<Batch> = Vec::new();
        let mut formats = vec![None; calls.len()];
        for (position, call) in calls.into_iter().enumerate() {
            let Some((engine, site, entry)) = call.finish() else {
                continue;
            };
            formats[position] = Some(engine.format(site));
            match batches.iter_mut().find(|(e, _)| Arc::ptr_eq(e, &engine)) {
                Some((_, keys)) => keys.push((position, site, entry)),
                None => batches.push((engine, vec![(position, site, entry)])),
            }
        }
        for (engine, keys) in batches {
            let mut positions = Vec::with_capacity(keys.len());
            let mut sites = Vec::with_capacity(keys.len());
            let mut entries = Vec::with_capacity(keys.len());
            for (position, site, entry) in keys {
                positions.push(position);
                sites.push(site);
                entries.push(entry);
            }
            let read = engine.peek_many(&sites, &entries).await;
            for (position, bytes) in positions.into_iter().zip(read) {
                found[position] = bytes;
            }
        }
        found
            .into_iter()
            .zip(formats)
            .map(|(bytes, format)| Some((bytes?, format?)))
            .collect()
    }

    /// Stores `result`, encoded by `encode` in the site's format, as this call's entry.
    pub(crate) async fn put_encoded<R>(
        self,
        result: &R,
        encode: fn(&R, Format) -> Option<bytes::Bytes>,
    ) {
        if let Some((engine, site, entry)) = self.finish() {
            if let Some(bytes) = encode(result, engine.format(site)) {
                let span = trace::put(site);
                engine.put(site, &entry, bytes).instrument(span).await;
            }
        }
    }

    /// `#[cache_put(function = …)]`: stores the cacheable part of `result` as an entry of the
    /// `#[cached]` function whose site this call was begun with.
    pub async fn put_result<R, T: Serialize>(self, adapter: shape::Adapter<R, T>, result: &R) {
        let Some(value) = (adapter.get)(result) else {
            return;
        };
        let Some((engine, site, entry)) = self.finish_storable::<R, T>() else {
            return;
        };
        match engine.format(site).encode(value) {
            Ok(bytes) => {
                engine
                    .put(site, &entry, bytes)
                    .instrument(trace::put(site))
                    .await
            }
            Err(error) => engine.log_unencodable(site, &error),
        }
    }

    /// `#[cache_evict]`: unless `result` is a failure, deletes what `eviction` names.
    pub async fn evict<R, T>(self, adapter: shape::Adapter<R, T>, result: &R, eviction: Eviction) {
        if (adapter.failed)(result) {
            return;
        }
        let Some((engine, site, entry)) = self.finish() else {
            return;
        };
        let span = trace::evict(site);
        let evicted = engine
            .evict(&entry, &eviction)
            .instrument(span.clone())
            .await;
        span.record("outcome", if evicted.is_ok() { "done" } else { "failed" });
        if let Err(error) = evicted {
            tracing::warn!(function = site.path(), %error, "cache: eviction failed; the entries may be served until their TTL ends");
        }
    }

    /// [`Call::finish`], unless the return type `R` is a `Result` that the attribute could
    /// not see, because it is a type parameter: the adapter would store it whole, an `Err`
    /// included. Such a call runs uncached, counted as `bypassed` and logged once per function.
    fn finish_storable<R, T>(self) -> Option<(Arc<Engine>, &'static Site, EntryKey)> {
        if !generic_result::<R, T>() {
            return self.finish();
        }
        let site = self.site;
        if let Some(engine) = Engine::current() {
            Counters::add(&engine.counters(site).bypassed);
        }
        if site.first_generic_result() {
            tracing::warn!(
                function = site.path(),
                result = std::any::type_name::<R>(),
                "cache: a type parameter of this function's return type is a `Result`, whose `Err` must not be cached, so these calls run uncached; declare the return type as `Result<T, E>` to cache its `Ok` (logged once per function)"
            );
        }
        None
    }

    /// The cache in use here and the full key in it: `None` when the call runs uncached.
    fn finish(self) -> Option<(Arc<Engine>, &'static Site, EntryKey)> {
        let (engine, entry) = resolve(self.site, self.key?, true)?;
        Some((engine, self.site, entry))
    }
}

/// Finds the cache in use and the tenant (the key's own, else the current scope's) and finishes
/// `key` in them. `None` without a cache, with caching disabled, or for a `require_tenant`
/// function outside any tenant (counted as bypassed when `count` is set).
fn resolve(site: &'static Site, key: KeyBuilder, count: bool) -> Option<(Arc<Engine>, EntryKey)> {
    let Some(engine) = Engine::current() else {
        if !WARNED_UNINITIALISED.swap(true, Ordering::Relaxed) {
            tracing::warn!("cache: no cache is installed, so #[cached] functions run uncached; call cache_runtime::init_from_env() at start-up");
        }
        return None;
    };
    if !engine.enabled() {
        return None;
    }
    let version = site.spec.version;
    if key.has_tenant() {
        let entry = engine.layout().entry(key, None, version);
        return Some((engine, entry));
    }
    let entry = tenant::with_current(|tenant| {
        (tenant.is_some() || !site.spec.require_tenant)
            .then(|| engine.layout().entry(key, tenant, version))
    });
    let Some(entry) = entry else {
        if count {
            Counters::add(&engine.counters(site).bypassed);
            if site.first_without_tenant() {
                tracing::warn!(function = site.path(), "cache: tenant-scoped function called outside any tenant scope runs uncached (logged once per function)");
            }
        }
        return None;
    };
    Some((engine, entry))
}

/// Whether `R` is a `Result` cached whole (`T` is `R`): the plain adapter, which the expansion
/// picks for a return type it cannot see through, a type parameter. A `Result` it can see is
/// cached by its `Ok` part, `T`.
fn generic_result<R, T>() -> bool {
    let result = std::any::type_name::<R>();
    result.starts_with("core::result::Result<") && result == std::any::type_name::<T>()
}

mod bounds;
mod features;
mod instance;
pub mod normalise;
mod probe;
pub mod shape;

pub use self::bounds::{
    cache_value, result_must_be_send_and_sync, stale_if_error_needs_a_result, tenant_id,
    CacheValue, FallibleResult, KeyArg, SharedResult, TenantId,
};
pub use self::features::{
    codec, compress_above, json, msgpack, EnabledCodec, EnabledCompression, Lz4,
};
