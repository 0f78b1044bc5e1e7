//! Get-or-set, the path of every `#[cached]` call: [`lookup`](super::lookup), then on a hit
//! the value (and, with `refresh_ahead`, a background refresh), else the computation and the
//! write of [`write`](super::write).
//!
//! Per hit, besides the lookup and the decoding: the cooperative budget, one load to see that no
//! invalidation waits, the site's counters found without a lock (`engine::counters`), one
//! relaxed increment, and a disabled span unless a subscriber wants `DEBUG`. With the `metrics`
//! feature, one clock read per call feeds the hit or the miss latency histogram.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Span;

use super::lookup::Lookup;
use super::refresh_now;
use super::site::Site;
use super::trace::{self, Outcome};
use super::write::Miss;
use super::{Adapter, Engine, Share};
use crate::key::EntryKey;
use crate::metrics::Timer;
use crate::store::Basis;

impl Engine {
    /// The heart of `#[cached]`: answer from the store, or run `body` once and store its result.
    /// The outcome is recorded on `span`, the call's (see [`trace`]).
    pub(crate) async fn get_or_set<R, T, F>(
        &self,
        site: &'static Site,
        entry: EntryKey,
        adapter: Adapter<R, T>,
        share: Option<Share<R>>,
        body: F,
        span: &Span,
    ) -> R
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = R>,
    {
        self.serve(
            site,
            entry,
            adapter,
            share,
            body,
            span,
            false,
            |_, _, _, _| {},
        )
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
        span: &Span,
    ) -> R
    where
        R: Send + 'static,
        T: Serialize + DeserializeOwned + 'static,
        F: Future<Output = R> + Send + 'static,
    {
        let engine = Arc::clone(&self);
        let on_hit = move |entry: EntryKey, body: F, remaining: Option<Duration>, basis: Basis| {
            if engine.refresh_due(site, remaining) {
                engine.spawn_refresh(site, entry, basis, adapter, body);
            }
        };
        self.serve(site, entry, adapter, share, body, span, true, on_hit)
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
        span: &Span,
        with_remaining: bool,
        on_hit: impl FnOnce(EntryKey, F, Option<Duration>, Basis),
    ) -> R
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = R>,
    {
        let Some(store) = self.store.as_deref() else {
            trace::record(span, Outcome::Bypass);
            return body.await;
        };
        let timer = Timer::start();
        // A hit in memory, or a call with the breaker open, completes without waiting on
        // anything: without this, callers in a loop would never yield and could starve the
        // runtime (the reconnection and the breaker's probe above all), as tokio's own
        // primitives avoid by consuming the task's budget.
        tokio::task::coop::consume_budget().await;
        let counters = self.counters(site);
        counters.popular.record(&entry.key);
        // A forced refresh (`CacheEntry::refresh_with`) reads the store only for what its write
        // is based on, and skips the in-process copy, which has no such basis.
        let forced = refresh_now::take(&entry.key);
        let mark = self.flights.mark();
        // While an invalidation waits for the store, nothing is served from it: what it holds
        // may be what was invalidated.
        let mut gens = None;
        // The replay and the miss path below are boxed: inline, their state would make this
        // future (which a hit builds and moves through the span's wrapper and the expansion)
        // twice as large, 3.4 kB instead of 1.8 kB for the bench's `lookup`, copied with every
        // move; a miss pays one allocation beside its round trips instead.
        let lookup = if self.pending.any() && !Box::pin(self.replay()).await {
            Lookup::Unreachable
        } else {
            let key = entry.key.as_str();
            let format = self.format(site);
            let local = if forced {
                None
            } else {
                self.lookup_local(store, key, with_remaining, format, &adapter, counters)
            };
            match local {
                Some(lookup) => lookup,
                None => {
                    let gens = gens.insert(self.generations(site, &entry));
                    self.lookup(store, key, gens, with_remaining, format, &adapter, counters)
                        .await
                }
            }
        };
        let lookup = match lookup {
            Lookup::Hit(_, _, basis) if forced => Lookup::Miss(basis),
            lookup => lookup,
        };
        let write = match lookup {
            Lookup::Hit(value, remaining, basis) => {
                counters.hit(timer);
                trace::record(span, Outcome::Hit);
                tracing::debug!("HIT");
                on_hit(entry, body, remaining, basis);
                return (adapter.wrap)(value);
            }
            Lookup::Miss(basis) => Some(basis),
            Lookup::Unreachable => None,
        };
        counters.miss();
        // `engine::stale` records `stale` over this when it serves a stale copy.
        trace::record(
            span,
            if write.is_some() {
                Outcome::Miss
            } else {
                Outcome::Fallback
            },
        );
        tracing::debug!("MISS");
        let miss = Miss { write, gens, mark };
        let result =
            Box::pin(self.compute(store, site, &entry, miss, adapter, share, body, counters)).await;
        counters.missed(timer);
        result
    }
}
