//! The get-or-set engine and [`Cache`], the handle to one configured cache.
//!
//! Per call: look the key up; on a hit decode and return; on a miss (or any store failure, or
//! bytes that do not decode) join the key's single flight, run the function once, store a
//! cacheable result with its TTL and hand it to every waiting caller. Store failures are
//! counted and logged, never returned.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::flight::{Flights, Outcome, Role};
use crate::metrics::{Counters, LogGate, Metrics, Stats};
use crate::policy::TtlOverrides;
use crate::private::shape::{Adapter, Share};
use crate::private::{Site, Ttl};
use crate::store::{Backend, Store, StoreError};

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
        key: String,
        adapter: Adapter<R, T>,
        share: Option<Share<R>>,
        body: F,
    ) -> R
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = R>,
    {
        let Some(store) = &self.backend else {
            return body.await;
        };
        let counters = self.counters(site);
        if let Some(value) = self.lookup::<T>(store, &key, &counters).await {
            Counters::add(&counters.hits);
            return (adapter.wrap)(value);
        }
        Counters::add(&counters.misses);
        let leader = loop {
            let follower = match self.flights.join(&key) {
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
        let result = body.await;
        let Some(leader) = leader else {
            return result;
        };
        let outcome = match (adapter.get)(&result) {
            Some(value) => match codec::encode(value) {
                Ok(bytes) => {
                    let ttl = self.ttl(&site.ttl);
                    self.store(store, site, &key, bytes.clone(), ttl, &counters)
                        .await;
                    Outcome::Value(bytes)
                }
                Err(error) => {
                    self.log_unencodable(site, &error);
                    Outcome::Uncached(None)
                }
            },
            None => Outcome::Uncached(share.as_ref().map(|share| (share.to_any)(&result))),
        };
        leader.publish(outcome);
        result
    }

    async fn lookup<T: DeserializeOwned>(
        &self,
        store: &Backend,
        key: &str,
        counters: &Counters,
    ) -> Option<T> {
        match store.get(key).await {
            Ok(Some(bytes)) => match codec::decode::<T>(&bytes) {
                Ok(value) => Some(value),
                Err(error) => {
                    Counters::add(&counters.undecodable);
                    if let Some(held_back) = self.undecodable.admit() {
                        tracing::warn!(key, %error, held_back, "cache: entry does not decode as the function's type; treating it as a miss and overwriting it");
                    }
                    None
                }
            },
            Ok(None) => None,
            Err(error) => {
                self.store_failed(counters, "get", &error);
                None
            }
        }
    }

    async fn store(
        &self,
        store: &Backend,
        site: &Site,
        key: &str,
        bytes: bytes::Bytes,
        ttl: Duration,
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
        if let Err(error) = store.set(key, bytes, ttl).await {
            self.store_failed(counters, "set", &error);
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
