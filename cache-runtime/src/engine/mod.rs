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
pub(crate) mod batch;
mod counters;
mod flight;
mod get_or_set;
pub(crate) mod invalidate;
mod lease;
mod lease_token;
mod lookup;
mod pending;
mod refresh;
pub(crate) mod refresh_now;
mod refreshing;
pub(crate) mod site;
mod stale;
pub(crate) mod trace;
mod write;

use std::future::Future;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;

pub use self::adapter::{Adapter, Share, Typing};
use self::counters::SiteCounters;
use self::flight::Flights;
use self::lease_token::LeaseTokens;
use self::pending::Pending;
use self::refreshing::Refreshing;
use self::site::{Site, Ttl};
use crate::codec::{EncodeError, Format};
use crate::key::KeyLayout;
use crate::metrics::{Counters, ErrorKind, LogGate, Stats};
use crate::policy::TtlOverrides;
use crate::store::{Store, StoreError};

const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub(crate) struct Engine {
    /// `None` when caching is disabled (`CACHE_ENABLED=false`).
    store: Option<Box<dyn Store>>,
    layout: KeyLayout,
    overrides: TtlOverrides,
    max_value_bytes: usize,
    counters: SiteCounters,
    /// The process's codec and compression, for sites that choose neither.
    format: Format,
    flights: Flights,
    refreshing: Refreshing,
    leases: LeaseTokens,
    store_errors: LogGate,
    undecodable: LogGate,
    /// Invalidations that wait for the store.
    pending: Pending,
    /// This engine, for the tasks it spawns (set once it is shared).
    this: OnceLock<Weak<Engine>>,
    /// Typed entries, counters and limits: their counters, and whether `Cache::flush` may run.
    direct: crate::direct_stats::DirectCounters,
    allow_flush: std::sync::atomic::AtomicBool,
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
            counters: SiteCounters::default(),
            flights: Flights::default(),
            refreshing: Refreshing::default(),
            leases: LeaseTokens::default(),
            store_errors: LogGate::new(LOG_INTERVAL),
            undecodable: LogGate::new(LOG_INTERVAL),
            pending: Pending::default(),
            this: OnceLock::new(),
            direct: Default::default(),
            allow_flush: Default::default(),
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

    /// The store, unless caching is disabled.
    pub(crate) fn backend(&self) -> Option<&dyn Store> {
        self.store.as_deref()
    }

    pub(crate) fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    pub(crate) fn backend_name(&self) -> &'static str {
        self.store.as_ref().map_or("disabled", |store| store.name())
    }

    /// The state of the store and the counters of every policy and function used so far.
    pub(crate) fn stats(&self) -> Stats {
        let (policies, functions) = self.counters.snapshot();
        Stats {
            backend: self.backend_name(),
            breaker: self
                .store
                .as_ref()
                .map_or(crate::breaker::BreakerState::Closed, |store| {
                    store.breaker_state()
                }),
            policies,
            functions,
            invalidations: self.pending.stats(),
            store: self.store.as_ref().map(|s| s.stats()).unwrap_or_default(),
            shortened_keys: self.layout.shortened_writes(),
            direct: self.direct.snapshot(),
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

    /// The `n` most requested full keys of `function` in this engine, most requested first.
    pub(crate) fn popular(&self, function: &str, n: usize) -> Vec<String> {
        self.counters.popular(function, n)
    }

    /// The counters of `site` in this engine: a few loads, no lock (see `engine::counters`).
    #[inline]
    pub(crate) fn counters(&self, site: &'static Site) -> &Counters {
        self.counters.get(site)
    }

    fn store_failed(&self, counters: &Counters, operation: &'static str, error: &StoreError) {
        let kind = match error {
            StoreError::BreakerOpen => ErrorKind::BreakerOpen,
            StoreError::Refused(_) => ErrorKind::Refused,
            StoreError::Timeout => ErrorKind::Timeout,
            StoreError::Redis(_) => ErrorKind::Redis,
        };
        counters.error(kind);
        if matches!(kind, ErrorKind::BreakerOpen | ErrorKind::Refused) {
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

// What typed entries, counters, limits and the maintenance utilities use.
impl Engine {
    /// The raw operations of the store; `None` with caching disabled.
    pub(crate) fn direct(&self) -> Option<&dyn crate::store::direct::Direct> {
        self.store.as_ref().map(|store| store.direct())
    }

    pub(crate) fn direct_counters(&self) -> &crate::direct_stats::DirectCounters {
        &self.direct
    }

    /// Lets `Cache::flush` delete this prefix's keys.
    pub(crate) fn set_allow_flush(&self, allow: bool) {
        self.allow_flush
            .store(allow, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn flush_allowed(&self) -> bool {
        self.allow_flush.load(std::sync::atomic::Ordering::Relaxed)
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
