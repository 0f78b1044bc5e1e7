//! `stale_if_error`: a copy of each entry kept for its TTL plus a window, served when the
//! function fails.

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::site::Site;
use super::Adapter;
use super::Engine;
use crate::key;
use crate::metrics::Counters;
use crate::store::{Read, Store};

impl Engine {
    /// The stale copy of a failed call's entry, if the site keeps one and it is still there.
    pub(super) async fn stale<R, T: DeserializeOwned>(
        &self,
        store: &dyn Store,
        site: &Site,
        entry: &str,
        adapter: &Adapter<R, T>,
        result: &R,
        counters: &Counters,
    ) -> Option<(Bytes, T)> {
        site.spec.stale_if_error?;
        if !(adapter.failed)(result) {
            return None;
        }
        match store.get(&key::stale_key(entry), Read::default()).await {
            Ok(Some(found)) => {
                let value = self.format(site).decode::<T>(&found.value).ok()?;
                Counters::add(&counters.stale);
                Some((found.value, value))
            }
            Ok(None) => None,
            Err(error) => {
                self.store_failed(counters, "get", &error);
                None
            }
        }
    }
}
