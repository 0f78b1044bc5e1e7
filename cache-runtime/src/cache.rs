//! [`Cache`]: the handle to one configured cache, and the invalidations users call on it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::invalidate::InvalidateError;
use crate::engine::trace::invalidation;
use crate::engine::{self, Engine};
use crate::health::Health;
use crate::key::Tag;
use crate::metrics::Stats;
use crate::policy::TtlPolicy;

/// A configured cache: a store, a key prefix, TTL overrides and counters.
///
/// Cheap to clone. Build one with `CacheBuilder` or `init_from_env`, then
/// either install it for the whole process ([`Cache::install`]) or use it for one future
/// ([`Cache::scope`]); `#[cached]` functions use the scoped cache first, then the installed one.
#[derive(Clone)]
pub struct Cache {
    engine: Arc<Engine>,
}

impl Cache {
    pub(crate) fn new(engine: Engine) -> Self {
        Self {
            engine: engine.shared(),
        }
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Makes this the process-wide cache of every `#[cached]` function, replacing any other.
    pub fn install(&self) {
        engine::install(&self.engine);
    }

    /// Runs `future` with this cache as the one `#[cached]` functions use, whatever is installed.
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        engine::scope(Arc::clone(&self.engine), future).await
    }

    /// The state of the store and the counters of every policy used so far.
    pub fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// Asks the store how it is (for Redis: `PING` and `INFO`, within the operation timeout,
    /// whatever the breaker's state) and adds the runtime's hit rates and breaker. Never fails:
    /// an unreachable Redis is `reachable: false` with the error.
    pub async fn health(&self) -> Health {
        crate::health::check(&self.engine).await
    }

    /// Starts the background `PING` of `REDIS_HEALTH_CHECK_INTERVAL`.
    pub(crate) fn spawn_health_checks(&self, interval: Duration) {
        crate::health::spawn_checks(&self.engine, interval);
    }

    /// Waits until this cache's local tier (`CACHE_LOCAL_TTL_MS`) receives other processes'
    /// invalidations; at once without a local tier. A tier that (re)connects drops its copies
    /// first, since it may have missed events: after this, a copy kept here is dropped by any
    /// invalidation anywhere.
    pub async fn listening(&self) {
        self.engine.listening().await;
    }

    /// The cache `#[cached]` functions use here: the scoped one, else the installed one.
    pub fn current() -> Option<Cache> {
        Engine::current().map(|engine| Cache { engine })
    }

    /// The full keys of the `n` entries of `function` requested most through this cache since
    /// start-up, most requested first: approximate, counted in bounded memory (64 keys per
    /// function; see [`warm`](crate::warm) for the rest of warming). `function` is its path, as
    /// for [`Cache::invalidate_function`]. Calls of `#[cached(batch = …)]` are not counted.
    ///
    /// ```
    /// use cache_runtime::cached;
    ///
    /// #[cached(key = "quote:{ticker}", ttl = "5m")]
    /// async fn quote(ticker: &str) -> Option<f64> {
    ///     Some(1.0)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_runtime::ConfigError> {
    /// let cache = cache_runtime::CacheBuilder::new().build().await?;
    /// cache.scope(async {
    ///     for ticker in ["7203", "7203", "6758"] {
    ///         quote(ticker).await;
    ///     }
    /// }).await;
    /// let function = concat!(module_path!(), "::quote");
    /// assert_eq!(cache.popular(function, 1), ["v1:_:quote:7203"]);
    /// # Ok(()) }
    /// ```
    pub fn popular(&self, function: &str, n: usize) -> Vec<String> {
        self.engine.popular(function, n)
    }

    /// Deletes one entry by its full key (as returned by a function's `key` companion).
    pub async fn invalidate_key(&self, key: &str) -> Result<u64, InvalidateError> {
        invalidation("key", self.engine.delete_keys(vec![key.to_owned()])).await
    }

    /// Deletes every entry of one `#[cached]` function, for every tenant. `function` is its
    /// path, e.g. `"my_service::quotes::quote"` (what `module_path!()` gives, then the name;
    /// for an associated function, the type before the name: `"my_service::Quotes::quote"`).
    pub async fn invalidate_function(&self, function: &str) -> Result<u64, InvalidateError> {
        let scope = self.engine.layout().function_scope(function);
        invalidation("function", self.engine.delete_scope(scope)).await
    }

    /// Deletes every entry stored under `policy`, for every tenant.
    pub async fn invalidate_policy(&self, policy: &dyn TtlPolicy) -> Result<u64, InvalidateError> {
        let scope = self.engine.layout().policy_scope(policy.path());
        invalidation("policy", self.engine.delete_scope(scope)).await
    }

    /// Deletes every entry of `tenant` (`None`: of calls made outside any tenant).
    pub async fn invalidate_tenant(&self, tenant: Option<&str>) -> Result<u64, InvalidateError> {
        let scope = self.engine.layout().tenant_scope(tenant);
        invalidation("tenant", self.engine.delete_scope(scope)).await
    }

    /// Deletes `tenant`'s entries of one function (see [`Cache::invalidate_function`]).
    pub async fn invalidate_tenant_function(
        &self,
        tenant: Option<&str>,
        function: &str,
    ) -> Result<u64, InvalidateError> {
        let scope = self.engine.layout().tenant_function_scope(tenant, function);
        invalidation("tenant", self.engine.delete_scope(scope)).await
    }

    /// Deletes `tenant`'s entries stored under `policy`.
    pub async fn invalidate_tenant_policy(
        &self,
        tenant: Option<&str>,
        policy: &dyn TtlPolicy,
    ) -> Result<u64, InvalidateError> {
        let scope = self
            .engine
            .layout()
            .tenant_policy_scope(tenant, policy.path());
        invalidation("tenant", self.engine.delete_scope(scope)).await
    }

    /// Deletes `tenant`'s entries carrying `tag`.
    pub async fn invalidate_tag(
        &self,
        tenant: Option<&str>,
        tag: &Tag,
    ) -> Result<u64, InvalidateError> {
        let scope = self.engine.layout().tag_scope(tenant, tag);
        invalidation("tag", self.engine.delete_scope(scope)).await
    }

    /// Deletes every key of `tenant` by scanning the keyspace (`SCAN` with an escaped `MATCH`,
    /// batched `UNLINK`, on every node), including entries whose index sets were evicted. Costs
    /// a pass over the whole keyspace: use it for data deletion requests, not on a request path.
    pub async fn purge_tenant(&self, tenant: Option<&str>) -> Result<u64, InvalidateError> {
        let (entries, generation) = self.engine.layout().tenant_prefix_scope(tenant);
        // The tenant's bookkeeping (index sets and marks in-process, generations in Redis) may
        // name its keys, which hold its argument values: it goes too. The purge's own mark
        // stays (for the marks' window), named by a hash.
        let indexes = self.engine.layout().tenant_indexes(tenant);
        let generations = self.engine.layout().tenant_generations(tenant);
        let purge = async {
            let deleted = self.engine.purge_prefix(entries, generation).await?;
            self.engine.delete_bookkeeping(&indexes).await?;
            self.engine.delete_bookkeeping(&generations).await?;
            Ok(deleted)
        };
        invalidation("purge", purge).await
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.engine.backend_name())
            .field("prefix", &self.engine.layout().prefix())
            .finish_non_exhaustive()
    }
}
