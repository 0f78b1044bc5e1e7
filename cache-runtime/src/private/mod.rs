//! What `#[cached]` expansions call. Not a public API: names and signatures here change
//! without notice.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::Engine;
use crate::key::{self, EntryKey};
use crate::metrics::Counters;
use crate::policy::TtlPolicy;
use crate::tenant;

/// Where a call site's TTL comes from.
pub enum Ttl {
    /// A policy variant, looked up (with overrides) at run time.
    Policy(&'static dyn TtlPolicy),
    /// A literal duration from the attribute.
    Fixed(Duration),
}

/// One `#[cached]` function: a `static` in its expansion.
pub struct Site {
    pub(crate) name: &'static str,
    pub(crate) ttl: Ttl,
    pub(crate) version: u32,
    pub(crate) require_tenant: bool,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) refresh_permille: u16,
    pub(crate) lock: Option<Duration>,
    warned_no_tenant: AtomicBool,
    warned_oversized: AtomicBool,
    warned_unencodable: AtomicBool,
}

impl Site {
    /// `name` is the function's path (`module_path!()::name`).
    pub const fn new(name: &'static str, ttl: Ttl, version: u32, require_tenant: bool) -> Self {
        Self {
            name,
            ttl,
            version,
            require_tenant,
            stale_if_error: None,
            refresh_permille: 0,
            lock: None,
            warned_no_tenant: AtomicBool::new(false),
            warned_oversized: AtomicBool::new(false),
            warned_unencodable: AtomicBool::new(false),
        }
    }

    /// `stale_if_error = "…"`: keep a copy for TTL + `window` and serve it when the function fails.
    pub const fn stale_if_error(mut self, window_ms: u64) -> Self {
        self.stale_if_error = Some(Duration::from_millis(window_ms));
        self
    }

    /// `refresh_ahead = 0.8`: recompute in the background once this share of the TTL has passed.
    pub const fn refresh_ahead(mut self, permille: u16) -> Self {
        self.refresh_permille = permille;
        self
    }

    /// `lock = "5s"`: one computation across processes, under a lease of this length.
    pub const fn lock(mut self, lease_ms: u64) -> Self {
        self.lock = Some(Duration::from_millis(lease_ms));
        self
    }

    /// The policy's name, when the TTL comes from a policy.
    pub(crate) fn policy_name(&self) -> Option<&'static str> {
        match self.ttl {
            Ttl::Policy(policy) => Some(policy.name()),
            Ttl::Fixed(_) => None,
        }
    }

    /// The label of this site's counters: its policy's name, or its path for a literal TTL.
    pub(crate) fn label(&self) -> &'static str {
        match self.ttl {
            Ttl::Policy(policy) => policy.name(),
            Ttl::Fixed(_) => self.name,
        }
    }

    pub(crate) fn first_oversized(&self) -> bool {
        !self.warned_oversized.swap(true, Ordering::Relaxed)
    }

    pub(crate) fn first_unencodable(&self) -> bool {
        !self.warned_unencodable.swap(true, Ordering::Relaxed)
    }

    fn first_without_tenant(&self) -> bool {
        !self.warned_no_tenant.swap(true, Ordering::Relaxed)
    }
}

/// A tenant given by an argument (`tenant = arg`).
pub fn tenant_arg<T: AsRef<str> + ?Sized>(tenant: &T) -> &str {
    tenant.as_ref()
}

/// One call of a `#[cached]` function: the key under construction, or nothing when the cache is
/// not used for this call.
pub struct Call {
    active: Option<Active>,
}

struct Active {
    engine: Arc<Engine>,
    site: &'static Site,
    entry: EntryKey,
    /// Whether `text`/`arg` currently write into the last tag rather than the key.
    in_tag: bool,
}

impl Active {
    fn target(&mut self) -> &mut String {
        match self.entry.tags.last_mut() {
            Some(tag) if self.in_tag => tag,
            _ => &mut self.entry.key,
        }
    }
}

static WARNED_UNINITIALISED: AtomicBool = AtomicBool::new(false);

impl Call {
    /// Starts a call: finds the cache and the tenant, and writes the key's prefix and tenant.
    pub fn begin(site: &'static Site, tenant: Option<&str>) -> Call {
        let Some(engine) = Engine::current() else {
            if !WARNED_UNINITIALISED.swap(true, Ordering::Relaxed) {
                tracing::warn!("cache: no cache is installed, so #[cached] functions run uncached; call cache_runtime::init_from_env() at start-up");
            }
            return Call { active: None };
        };
        if engine.backend.is_none() {
            return Call { active: None };
        }
        let mut key = String::with_capacity(96);
        key.push_str(&engine.prefix);
        key.push(':');
        let has_tenant = match tenant {
            Some(tenant) => {
                key::write_tenant(&mut key, Some(tenant));
                true
            }
            None => tenant::with_current(|tenant| {
                key::write_tenant(&mut key, tenant);
                tenant.is_some()
            }),
        };
        if site.require_tenant && !has_tenant {
            Counters::add(&engine.counters(site).bypassed);
            if site.first_without_tenant() {
                tracing::warn!(function = site.name, "cache: tenant-scoped function called outside any tenant scope runs uncached (logged once per function)");
            }
            return Call { active: None };
        }
        let tenant_end = key.len();
        key.push(':');
        let entry = EntryKey {
            key,
            tenant_end,
            tags: Vec::new(),
            function: site.name,
        };
        Call {
            active: Some(Active {
                engine,
                site,
                entry,
                in_tag: false,
            }),
        }
    }

    /// Whether the key is needed: false when the call runs uncached.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Appends literal template text, checked at compile time.
    pub fn text(&mut self, text: &'static str) {
        if let Some(active) = &mut self.active {
            active.target().push_str(text);
        }
    }

    /// Starts a tag named `name`: the following `arg`s are its values.
    pub fn tag(&mut self, name: &'static str) {
        if let Some(active) = &mut self.active {
            let mut tag = String::with_capacity(name.len() + 16);
            key::escape_into(&mut tag, name);
            active.entry.tags.push(tag);
            active.in_tag = true;
        }
    }

    /// Appends the function's path, with `.` for `::`: the start of a derived key.
    pub fn function_name(&mut self) {
        if let Some(active) = &mut self.active {
            let mut segments = active.site.name.split("::");
            if let Some(first) = segments.next() {
                active.entry.key.push_str(first);
            }
            for segment in segments {
                active.entry.key.push('.');
                active.entry.key.push_str(segment);
            }
        }
    }

    /// Appends one argument value, escaped (to a tag: after a `:`).
    pub fn arg<A: KeyArg + ?Sized>(&mut self, value: &A) {
        if let Some(active) = &mut self.active {
            let in_tag = active.in_tag;
            let target = active.target();
            if in_tag {
                target.push(':');
            }
            if let Err(error) = key::write_part(target, value) {
                tracing::warn!(function = active.site.name, %error, "cache: an argument could not be written into the key; this call runs uncached");
                self.active = None;
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
        match self.finish() {
            Some((engine, site, key)) => engine.get_or_set(site, key, adapter, share, body).await,
            None => body.await,
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
        match self.finish() {
            Some((engine, site, key)) => {
                engine
                    .get_or_set_refreshing(site, key, adapter, share, body)
                    .await
            }
            None => body.await,
        }
    }

    /// The full key of this call, `None` when no cache is in use.
    pub(crate) fn full_key(&self) -> Option<String> {
        let active = self.active.as_ref()?;
        let mut key = active.entry.key.clone();
        push_version(&mut key, active.site.version);
        Some(key)
    }

    /// Deletes this call's entry.
    pub(crate) async fn invalidate(self) -> Result<bool, crate::InvalidateError> {
        match self.finish() {
            Some((engine, _, entry)) => Ok(engine.delete_entries(vec![entry.key]).await? > 0),
            None => Ok(false),
        }
    }

    /// Deletes every entry of this call's function, for every tenant.
    pub(crate) async fn invalidate_function(self) -> Result<u64, crate::InvalidateError> {
        match self.finish() {
            Some((engine, site, _)) => engine.delete_function(site.name).await,
            None => Ok(0),
        }
    }

    /// Reads this call's entry without computing it.
    pub(crate) async fn peek_bytes(self) -> Option<bytes::Bytes> {
        let (engine, site, entry) = self.finish()?;
        engine.peek(site, &entry).await
    }

    /// Stores encoded bytes as this call's entry.
    pub(crate) async fn put_bytes(self, bytes: bytes::Bytes) {
        if let Some((engine, site, entry)) = self.finish() {
            engine.put(site, &entry, bytes).await;
        }
    }

    /// `#[cache_put(function = …)]`: stores the cacheable part of `result` as an entry of the
    /// `#[cached]` function at `function` (its path), so that invalidating that function drops it.
    pub async fn put_result<R, T: Serialize>(
        self,
        adapter: shape::Adapter<R, T>,
        result: &R,
        function: &'static str,
    ) {
        let Some(value) = (adapter.get)(result) else {
            return;
        };
        let Some((engine, site, mut entry)) = self.finish() else {
            return;
        };
        entry.function = function;
        match crate::codec::encode(value) {
            Ok(bytes) => engine.put(site, &entry, bytes).await,
            Err(error) => {
                tracing::warn!(function = site.name, %error, "cache: result cannot be encoded as JSON and is not stored")
            }
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
        if let Err(error) = engine.evict(&entry, &eviction).await {
            tracing::warn!(function = site.name, %error, "cache: eviction failed; the entries may be served until their TTL ends");
        }
    }

    fn finish(self) -> Option<(Arc<Engine>, &'static Site, EntryKey)> {
        let Active {
            engine,
            site,
            mut entry,
            ..
        } = self.active?;
        push_version(&mut entry.key, site.version);
        Some((engine, site, entry))
    }
}

fn push_version(key: &mut String, version: u32) {
    if version > 0 {
        key.push_str("#v");
        key.push_str(&version.to_string());
    }
}

/// What `#[cache_evict]` deletes, besides the tags written into its `Call`.
pub struct Eviction {
    /// The entry of the call's key.
    pub key: bool,
    /// Every entry of this function (its path), every tenant.
    pub function: Option<&'static str>,
    /// Every entry of the call's tenant.
    pub tenant_entries: bool,
}

/// The path of a function item, as `#[cached]` names its entries: `crate::module::name`.
pub fn function_path<F>(function: &F) -> &'static str {
    let _ = function;
    let path = std::any::type_name::<F>();
    // A generic function's name ends with its arguments: `path::name<T>`.
    path.split('<').next().unwrap_or(path)
}

/// A value that can be part of a cache key: anything `Serialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key",
    label = "this argument is part of the key",
    note = "key arguments must implement `serde::Serialize`; name only the arguments that identify the result in `key = \"…\"`"
)]
pub trait KeyArg: Serialize {}

impl<T: Serialize + ?Sized> KeyArg for T {}

/// A value the cache can store: the return type, or its `Ok`/`Some` part.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the cache",
    label = "the cache stores values of this type",
    note = "a cached value must implement `serde::Serialize` and `serde::Deserialize`: derive both on it; `Result<T, E>` and `Option<T>` need them for `T` only"
)]
pub trait CacheValue: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// A compile-time check spanned on the return type: the cached part of it can be stored. It
/// reports a type that cannot once, where the bounds of [`Call::run`] would report it several
/// times, pointing at generated code.
pub fn cache_value<R, T: CacheValue>(adapter: shape::Adapter<R, T>) -> shape::Adapter<R, T> {
    adapter
}

/// An argument that can be the tenant (`tenant = arg`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tenant id",
    label = "`tenant = …` names this argument",
    note = "the tenant argument must implement `AsRef<str>`, like `&str`, `String` or `Arc<str>`"
)]
pub trait TenantId: AsRef<str> {}

impl<T: AsRef<str> + ?Sized> TenantId for T {}

/// A compile-time check spanned on `tenant = arg`, for a message that says what a tenant is.
pub fn tenant_id<T: TenantId + ?Sized>(tenant: &T) -> &T {
    tenant
}

pub mod shape;
