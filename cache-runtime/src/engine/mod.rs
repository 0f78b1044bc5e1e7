//! The get-or-set engine: one configured store, key layout, TTL overrides and counters, and the
//! path every `#[cached]` call takes through them.
//!
//! Per call: look the key up; on a hit decode and return; on a miss (or any store failure, or
//! bytes that do not decode) join the key's single flight, run the function once, store a
//! cacheable result with its TTL and hand it to every waiting caller. Store failures are
//! counted and logged, never returned. The strategies around that path each have a module:
//! [`flight`] (one computation per key in this process), [`lease`] (one across processes),
//! [`stale`] (`stale_if_error`), [`refresh`] (`refresh_ahead`); [`invalidate`] deletes.

mod adapter;
mod flight;
mod get_or_set;
pub(crate) mod invalidate;
mod lease;
mod lease_token;
mod lookup;
mod pending;
mod refresh;
mod refreshing;
pub(crate) mod site;
mod stale;
mod write;

use std::future::Future;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;

pub use self::adapter::{Adapter, Share, Typing};
use self::flight::Flights;
use self::lease_token::LeaseTokens;
use self::pending::Pending;
use self::refreshing::Refreshing;
use self::site::{Site, Ttl};
use crate::codec::{EncodeError, Format};
use crate::key::KeyLayout;
use crate::metrics::{Counters, LogGate, Metrics, Stats};
use crate::policy::TtlOverrides;
use crate::store::{Store, StoreError};

const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub(crate) struct Engine {
    /// `None` when caching is disabled (`CACHE_ENABLED=false`).
    store: Option<Box<dyn Store>>,
    layout: KeyLayout,
    overrides: TtlOverrides,
    max_value_bytes: usize,
    /// The process's codec and compression, for sites that choose neither.
    format: Format,
    metrics: Metrics,
    flights: Flights,
    refreshing: Refreshing,
    leases: LeaseTokens,
    store_errors: LogGate,
    undecodable: LogGate,
    /// Invalidations that wait for the store.
    pending: Pending,
    /// This engine, for the tasks it spawns (set once it is shared).
    this: OnceLock<Weak<Engine>>,
}

impl Engine {
    pub(crate) fn new(
        store: Option<Box<dyn Store>>,
        layout: KeyLayout,
        overrides: TtlOverrides,
        format: Format,
    ) -> Self {
        Self {
            store,
            layout,
            overrides,
            max_value_bytes: format.max_bytes,
            format,
            metrics: Metrics::default(),
            flights: Flights::default(),
            refreshing: Refreshing::default(),
            leases: LeaseTokens::default(),
            store_errors: LogGate::new(LOG_INTERVAL),
            undecodable: LogGate::new(LOG_INTERVAL),
            pending: Pending::default(),
            this: OnceLock::new(),
        }
    }

    /// Shares the engine, so that the tasks it spawns can hold it.
    pub(crate) fn shared(self) -> Arc<Engine> {
        let engine = Arc::new(self);
        let _ = engine.this.set(Arc::downgrade(&engine));
        engine
    }

    /// Whether calls use a store at all (not with `CACHE_ENABLED=false`).
    pub(crate) fn enabled(&self) -> bool {
        self.store.is_some()
    }

    pub(crate) fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    pub(crate) fn backend_name(&self) -> &'static str {
        self.store.as_ref().map_or("disabled", |store| store.name())
    }

    /// The state of the store and the counters of every policy used so far.
    pub(crate) fn stats(&self) -> Stats {
        Stats {
            backend: self.backend_name(),
            breaker: self
                .store
                .as_ref()
                .map_or(crate::breaker::BreakerState::Closed, |store| {
                    store.breaker_state()
                }),
            policies: self.metrics.snapshot(),
            invalidations: self.pending.stats(),
            store: self.store.as_ref().map(|s| s.stats()).unwrap_or_default(),
            shortened_keys: self.layout.shortened_writes(),
        }
    }

    /// Waits until the store listens to other processes' invalidations, if it keeps copies.
    pub(crate) async fn listening(&self) {
        if let Some(mut listening) = self.store.as_ref().and_then(|store| store.listening()) {
            let _ = listening.wait_for(|listening| *listening).await;
        }
    }

    pub(crate) fn ttl(&self, ttl: &Ttl) -> Duration {
        match ttl {
            Ttl::Policy(policy) => self.overrides.ttl(*policy),
            Ttl::Fixed(duration) => *duration,
        }
    }

    /// How `site` encodes and decodes: its own codec and compression, else the process's.
    pub(crate) fn format(&self, site: &Site) -> Format {
        self.format.with(site.spec.codec, site.spec.compression)
    }

    pub(crate) fn counters(&self, site: &'static Site) -> Arc<Counters> {
        self.metrics.counters(site.label())
    }

    fn store_failed(&self, counters: &Counters, operation: &'static str, error: &StoreError) {
        Counters::add(&counters.errors);
        if matches!(error, StoreError::BreakerOpen | StoreError::Refused(_)) {
            return;
        }
        if let Some(held_back) = self.store_errors.admit() {
            tracing::warn!(operation, %error, held_back, "cache: store operation failed; the function's own result is returned");
        }
    }

    pub(crate) fn log_unencodable(&self, site: &'static Site, error: &EncodeError) {
        Counters::add(&self.counters(site).unencodable);
        if site.first_unencodable() {
            tracing::warn!(function = site.path(), %error, "cache: result cannot be encoded and is not cached (logged once per function)");
        }
    }
}

// Which engine a `#[cached]` call uses: the one scoped to the current task, else the one
// installed for the process.

static INSTALLED: ArcSwapOption<Engine> = ArcSwapOption::const_empty();

tokio::task_local! {
    static SCOPED: Arc<Engine>;
}

impl Engine {
    /// The scoped engine, else the installed one.
    pub(crate) fn current() -> Option<Arc<Engine>> {
        SCOPED
            .try_with(Arc::clone)
            .ok()
            .or_else(|| INSTALLED.load_full())
    }
}

/// Makes `engine` the process-wide one, replacing any other.
pub(crate) fn install(engine: &Arc<Engine>) {
    INSTALLED.store(Some(Arc::clone(engine)));
}

/// Runs `future` with `engine` as the one calls use, whatever is installed.
pub(crate) async fn scope<F: Future>(engine: Arc<Engine>, future: F) -> F::Output {
    SCOPED.scope(engine, future).await
}
