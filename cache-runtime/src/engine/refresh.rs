//! `refresh_ahead`: a hit in the last part of its TTL is returned at once and the entry is
//! recomputed in a background task, one refresh per key at a time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;

use super::site::Site;
use super::write::Intent;
use super::{Adapter, Engine};
use crate::key::EntryKey;
use crate::metrics::Counters;
use crate::store::Basis;

impl Engine {
    pub(super) fn refresh_due(&self, site: &Site, remaining: Option<Duration>) -> bool {
        let Some(remaining) = remaining else {
            return false;
        };
        let ttl = self.ttl(&site.spec.ttl);
        let left_permille = 1000 - u128::from(site.spec.refresh_permille.min(1000));
        remaining.as_millis() * 1000 < ttl.as_millis() * left_permille
    }

    /// Recomputes `entry` with `body` in a background task, unless a refresh of it is under way.
    pub(super) fn spawn_refresh<R, T, F>(
        self: &Arc<Self>,
        site: &'static Site,
        entry: EntryKey,
        basis: Basis,
        adapter: Adapter<R, T>,
        body: F,
    ) where
        R: Send + 'static,
        T: Serialize + 'static,
        F: Future<Output = R> + Send + 'static,
    {
        let (Ok(runtime), Some(guard)) = (
            tokio::runtime::Handle::try_current(),
            self.refreshing.claim(&entry.key),
        ) else {
            return;
        };
        // The refresh runs in its own task: give it this call's tenant and cache, so that the
        // function computes what it would have computed here.
        let engine = Arc::clone(self);
        let tenant = crate::tenant::current();
        // A refresh that outlives the entry's TTL is of no use, and one that hangs must not pin
        // the key: past the deadline it is dropped, and with it the key's mark.
        let deadline = self.ttl(&site.spec.ttl);
        let refresh = async move {
            let _guard = guard;
            let refreshed = engine.refresh(site, &entry, basis, adapter, body);
            let refreshed = refreshed.instrument(super::trace::refresh(site));
            if tokio::time::timeout(deadline, refreshed).await.is_err() {
                tracing::warn!(function = site.path(), ?deadline, "cache: a background refresh did not finish within the entry's TTL and was dropped");
            }
        };
        runtime.spawn(super::scope(Arc::clone(self), async move {
            match tenant {
                Some(tenant) => crate::tenant::scope(tenant, refresh).await,
                None => refresh.await,
            }
        }));
    }

    async fn refresh<R, T>(
        &self,
        site: &'static Site,
        entry: &EntryKey,
        basis: Basis,
        adapter: Adapter<R, T>,
        body: impl Future<Output = R>,
    ) where
        T: Serialize,
    {
        let Some(store) = self.store.as_deref() else {
            return;
        };
        let counters = self.counters(site);
        let gens = self.generations(site, entry);
        let ttl = self.ttl(&site.spec.ttl);
        // The basis is the hit's: the refreshed value replaces exactly what was served.
        let began = match store.begin(&entry.key, &gens, ttl, basis).await {
            Ok(began) => began,
            Err(error) => {
                self.store_failed(counters, "begin", &error);
                return;
            }
        };
        let result = body.await;
        if let Some(value) = (adapter.get)(&result) {
            match self.format(site).encode(value) {
                Ok(bytes) => {
                    let typed = adapter.typing.map(|typing| (typing.to_any)(value));
                    let intent = Intent::computed(&began);
                    self.store(store, site, entry, bytes, typed, intent, counters)
                        .await;
                    // Counted once the write is done: a caller that sees it counted reads
                    // what the refresh wrote.
                    Counters::add(&counters.refreshed);
                }
                Err(error) => self.log_unencodable(site, &error),
            }
        }
    }
}
