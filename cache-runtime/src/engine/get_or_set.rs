//! Get-or-set, the path of every `#[cached]` call: [`lookup`](super::lookup), then on a hit
//! the value (and, with `refresh_ahead`, a background refresh), else the computation and the
//! write of [`write`](super::write).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::lookup::Lookup;
use super::site::Site;
use super::{Adapter, Engine, Share};
use crate::key::EntryKey;
use crate::metrics::Counters;

impl Engine {
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
        let Some(store) = self.store.as_deref() else {
            return body.await;
        };
        // A hit in memory, or a call with the breaker open, completes without waiting on
        // anything: without this, callers in a loop would never yield and could starve the
        // runtime (the reconnection and the breaker's probe above all), as tokio's own
        // primitives avoid by consuming the task's budget.
        tokio::task::coop::consume_budget().await;
        let counters = self.counters(site);
        // While an invalidation waits for the store, nothing is served from it: what it holds
        // may be what was invalidated.
        let lookup = if self.pending.any() && !self.replay().await {
            Lookup::Unreachable
        } else {
            let format = self.format(site);
            self.lookup(
                store,
                &entry.key,
                with_remaining,
                format,
                &adapter,
                &counters,
            )
            .await
        };
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
}
