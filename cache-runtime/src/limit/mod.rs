//! Counters, rate limits and daily quotas on atomic windowed counters in the store.
//!
//! Every count is one round trip: `INCR`, `PEXPIRE … NX` (the window starts with the first
//! increment) and `PTTL` in one pipeline. Keys follow the layout of every entry,
//! `{prefix}:{tenant}:{kind}:{name}:{key}…`, so a limit inside [`tenant::scope`](crate::tenant)
//! is per tenant, and two `Cache`s (two processes) on one Redis share the count.
//!
//! - [`RateLimit::fixed`]: at most `limit` requests per window, counted from the first one.
//! - [`RateLimit::sliding`]: the current window's count plus the previous window's, weighted by
//!   how much of it the sliding window still covers: no burst of twice the limit at a window
//!   edge. Windows are aligned to the Unix epoch on this host's clock.
//! - [`Quota::daily`]: at most `limit` per key and UTC day, reset at UTC midnight.
//! - [`Counter`]: a plain windowed count.
//!
//! While the store does not answer (or no cache is installed), each process counts on its own
//! (`local`), with the same limit and fixed windows: with N processes an outage admits up to
//! N × limit, never everything and never nothing. Those decisions say so ([`Source::Local`]) and
//! are counted in [`Stats::direct`](crate::Stats).

mod counter;
#[cfg(feature = "tower")]
mod layer;
mod local;
mod quota;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use self::counter::Counter;
#[cfg(feature = "tower")]
pub use self::layer::{client_ip, RateLimitLayer, RateLimitService};
use self::local::LocalWindows;
pub use self::quota::Quota;
use crate::direct_stats::DirectCounters;
use crate::engine::Engine;
use crate::key::KeyBuilder;
use crate::store::direct::Counted;
use crate::{tenant, Cache};

/// Whether a request may go ahead, and what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decision {
    /// The request is within the limit.
    pub allowed: bool,
    /// The limit per window.
    pub limit: u64,
    /// Requests left in this window (0 when refused).
    pub remaining: u64,
    /// Until the window (or the quota's day) ends.
    pub reset: Duration,
    /// When refused: how long to wait before trying again.
    pub retry_after: Option<Duration>,
    /// Who counted.
    pub source: Source,
}

/// Who made a [`Decision`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The shared counter in the store.
    Store,
    /// This process's own counter: the store did not answer, or no cache is in use.
    Local,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Fixed,
    Sliding,
}

/// A rate limit: at most `limit` requests per `window` and key. Declare one per purpose, e.g. in
/// a `static`; its name is part of its keys.
#[derive(Debug)]
pub struct RateLimit {
    name: &'static str,
    limit: u64,
    window: Duration,
    kind: Kind,
    local: LocalWindows,
}

impl RateLimit {
    /// A fixed window: counted from the key's first request, reset when `window` has passed.
    pub const fn fixed(name: &'static str, limit: u64, window: Duration) -> Self {
        Self::new(name, limit, window, Kind::Fixed)
    }

    /// A sliding window (two weighted fixed windows aligned to the epoch).
    pub const fn sliding(name: &'static str, limit: u64, window: Duration) -> Self {
        Self::new(name, limit, window, Kind::Sliding)
    }

    const fn new(name: &'static str, limit: u64, window: Duration, kind: Kind) -> Self {
        Self {
            name,
            limit,
            window,
            kind,
            local: LocalWindows::new(),
        }
    }

    /// The limit per window.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Counts one request of `key` in the cache in use here (see [`Cache::current`]) and the
    /// current tenant.
    pub fn check<K: Serialize + ?Sized>(
        &self,
        key: &K,
    ) -> impl Future<Output = Decision> + Send + '_ {
        self.decide(None, key)
    }

    /// Counts one request of `key` in `cache` and the current tenant.
    pub fn check_in<K: Serialize + ?Sized>(
        &self,
        cache: &Cache,
        key: &K,
    ) -> impl Future<Output = Decision> + Send + '_ {
        self.decide(Some(Arc::clone(cache.engine())), key)
    }

    /// Writes the key now (so the future does not borrow it) and reads the tenant and the
    /// cache in use (unless `engine` is given) when the future runs, like every other operation.
    fn decide<K: Serialize + ?Sized>(
        &self,
        engine: Option<Arc<Engine>>,
        key: &K,
    ) -> impl Future<Output = Decision> + Send + '_ {
        let parts = key_parts("rl", self.name, key);
        async move {
            let engine = engine.or_else(Engine::current);
            let window = self.window.max(Duration::from_millis(1));
            let Some(name) = parts.map(|parts| counter_name(engine.as_ref(), parts)) else {
                return self.local_decision("", window, engine.as_ref());
            };
            let (name, peek, elapsed, ttl) = match self.kind {
                Kind::Fixed => (name, None, Duration::ZERO, window),
                Kind::Sliding => {
                    let (index, elapsed) = window_position(window);
                    let previous = format!("{name}:~{}", index.saturating_sub(1));
                    (
                        format!("{name}:~{index}"),
                        Some(previous),
                        elapsed,
                        window * 2,
                    )
                }
            };
            match count(engine.as_ref(), &name, ttl, peek.as_deref()).await {
                Some(counted) => self.store_decision(counted, window, elapsed),
                None => self.local_decision(&name, window, engine.as_ref()),
            }
        }
    }

    fn store_decision(&self, counted: Counted, window: Duration, elapsed: Duration) -> Decision {
        let (used, reset) = match self.kind {
            Kind::Fixed => (counted.count, counted.reset),
            Kind::Sliding => {
                let left = window.saturating_sub(elapsed);
                let weight = left.as_secs_f64() / window.as_secs_f64();
                let previous = (counted.peeked as f64 * weight).floor() as u64;
                (previous.saturating_add(counted.count), left)
            }
        };
        decision(self.limit, used, reset, Source::Store)
    }

    fn local_decision(
        &self,
        name: &str,
        window: Duration,
        engine: Option<&Arc<Engine>>,
    ) -> Decision {
        if let Some(engine) = engine {
            DirectCounters::add(&engine.direct_counters().local_limit_decisions);
        }
        let (count, reset) = self.local.increment(name, window);
        decision(self.limit, count, reset, Source::Local)
    }
}

/// A decision for `used` requests (this one included) against `limit`.
fn decision(limit: u64, used: u64, reset: Duration, source: Source) -> Decision {
    let allowed = used <= limit;
    Decision {
        allowed,
        limit,
        remaining: limit.saturating_sub(used),
        reset,
        retry_after: (!allowed).then_some(reset.max(Duration::from_millis(1))),
        source,
    }
}

/// Which window of length `window` the epoch-aligned clock is in, and how far into it.
fn window_position(window: Duration) -> (u64, Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let window = window.as_millis().max(1);
    let index = u64::try_from(now / window).unwrap_or(u64::MAX);
    let elapsed = u64::try_from(now % window).unwrap_or(0);
    (index, Duration::from_millis(elapsed))
}

/// `{kind}:{name}:{key}`, the name and key escaped; `None` when the key cannot be written
/// (logged).
fn key_parts<K: Serialize + ?Sized>(kind: &'static str, name: &str, key: &K) -> Option<KeyBuilder> {
    let mut builder = KeyBuilder::new(None);
    builder.text(kind);
    builder.text(":");
    let written = builder.arg(name).and_then(|()| {
        builder.text(":");
        builder.arg(key)
    });
    match written {
        Ok(()) => Some(builder),
        Err(error) => {
            tracing::warn!(%error, "cache: a counter key could not be written; the local limiter decides");
            None
        }
    }
}

/// The full name of a counter, `{prefix}:{tenant}:{parts}`, in the cache in use and the current
/// tenant; without a cache, the same under `local` for the local counters.
fn counter_name(engine: Option<&Arc<Engine>>, parts: KeyBuilder) -> String {
    tenant::with_current(|tenant| match engine {
        Some(engine) => engine.layout().entry(parts, tenant, 0).key,
        None => {
            crate::key::KeyLayout::new("local".to_owned(), usize::MAX)
                .entry(parts, tenant, 0)
                .key
        }
    })
}

/// One increment in the store, `None` when there is none or it failed (counted).
async fn count(
    engine: Option<&Arc<Engine>>,
    name: &str,
    window: Duration,
    peek: Option<&str>,
) -> Option<Counted> {
    let engine = engine?;
    match engine.direct()?.increment(name, window, peek).await {
        Ok(counted) => Some(counted),
        Err(error) => {
            DirectCounters::add(&engine.direct_counters().write_errors);
            tracing::debug!(%error, "cache: counter increment failed");
            None
        }
    }
}
