//! `stale_if_error`: a copy of each entry kept for its TTL plus a window, served when the
//! function fails.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::site::Site;
use super::Adapter;
use super::Engine;
use crate::key::{self, EntryKey};
use crate::metrics::Counters;
use crate::store::{Read, Store};

impl Engine {
    /// The stale copy of a failed call's entry, if the site keeps one and it is still there.
    pub(super) async fn stale<R, T: DeserializeOwned>(
        &self,
        store: &dyn Store,
        site: &'static Site,
        entry: &EntryKey,
        adapter: &Adapter<R, T>,
        result: &R,
        counters: &Counters,
    ) -> Option<(Bytes, T)> {
        site.spec.stale_if_error?;
        if !(adapter.failed)(result) {
            return None;
        }
        // The stale copy carries its entry's stamp: an invalidation since makes it unservable.
        let gens = self.generations(site, entry);
        let read = Read {
            gens: Some(&gens),
            ..Read::default()
        };
        match store.get(&key::stale_key(&entry.key), read).await {
            Ok(fetched) => {
                let found = fetched.found?;
                let value = self.format(site).decode::<T>(&found.value).ok()?;
                Counters::add(&counters.stale);
                // The call's span is the current one: the function has returned.
                super::trace::record(&tracing::Span::current(), super::trace::Outcome::Stale);
                Some((found.value, value))
            }
            Err(error) => {
                self.store_failed(counters, "get", &error);
                None
            }
        }
    }
}
