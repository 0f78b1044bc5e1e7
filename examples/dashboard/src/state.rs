//! What every handler shares: the cache and the data source.

use std::future::Future;
use std::sync::Arc;

use cache_runtime::Cache;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::source::Source;
use crate::tenant::TenantId;

/// The router's state. Cheap to clone.
///
/// It carries its own [`Cache`] rather than relying on the one installed for the process, so
/// several routers (one per test, say) can live side by side, each with its store and counters.
#[derive(Debug, Clone)]
pub struct AppState {
    cache: Cache,
    source: Arc<Source>,
    prometheus: Option<PrometheusHandle>,
}

impl AppState {
    /// State over `cache` (e.g. from `cache_runtime::init_from_env`) and `source`.
    pub fn new(cache: Cache, source: Arc<Source>) -> Self {
        Self {
            cache,
            source,
            prometheus: None,
        }
    }

    /// Serves the metrics of `prometheus`, the process's recorder, at `GET /metrics` (see
    /// [`crate::prometheus`]); without it that route answers 404.
    pub fn with_prometheus(mut self, prometheus: PrometheusHandle) -> Self {
        self.prometheus = Some(prometheus);
        self
    }

    /// The process's Prometheus recorder, if this state serves it.
    pub fn prometheus(&self) -> Option<&PrometheusHandle> {
        self.prometheus.as_ref()
    }

    /// The cache the handlers use.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The data source behind the cache.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Runs `query` with this state's cache and with `tenant` as the current tenant, so that
    /// every `#[cached]` call inside reads and writes that tenant's entries only.
    pub async fn for_tenant<F: Future>(&self, tenant: &TenantId, query: F) -> F::Output {
        let scoped = cache_runtime::tenant::scope(tenant.as_str(), query);
        self.cache.scope(scoped).await
    }
}
