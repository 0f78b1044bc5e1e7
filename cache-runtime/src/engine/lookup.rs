//! The read half of get-or-set: the lookup and its decoding.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::site::Site;
use super::{Adapter, Engine};
use crate::codec::{DecodeError, Format};
use crate::key::{EntryKey, Generations};
use crate::metrics::Counters;
use crate::store::{Basis, Found, Local, Read, Store};

/// What a lookup found.
pub(super) enum Lookup<T> {
    /// A decodable entry, with its remaining TTL when asked for, and the basis of a rewrite.
    Hit(T, Option<Duration>, Basis),
    /// No entry, or one that does not decode, or a refused command: compute and store on
    /// this basis.
    Miss(Basis),
    /// The store is down, slow or behind an open breaker: compute, and do not wait for a write.
    Unreachable,
}

impl Engine {
    /// What a read in Redis checks `entry` against.
    pub(super) fn generations(&self, site: &'static Site, entry: &EntryKey) -> Generations {
        self.layout.generations(entry, &site.identity().fields)
    }

    /// The synchronous lookup in memory (an in-process store, a local tier): `None` when the
    /// store must be asked. Early refresh needs the entry's real remaining TTL, which only the
    /// store knows: it always asks.
    pub(super) fn lookup_local<R, T: DeserializeOwned>(
        &self,
        store: &dyn Store,
        key: &str,
        with_remaining: bool,
        format: Format,
        adapter: &Adapter<R, T>,
        counters: &Counters,
    ) -> Option<Lookup<T>> {
        if with_remaining {
            return None;
        }
        match store.get_local(key) {
            Local::Hit(found) => {
                Some(self.decode(key, found, Basis::default(), format, adapter, counters))
            }
            Local::Miss => Some(Lookup::Miss(Basis::default())),
            Local::Ask => None,
        }
    }

    /// The lookup in the store, checked against `gens` in Redis.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn lookup<R, T: DeserializeOwned>(
        &self,
        store: &dyn Store,
        key: &str,
        gens: &Generations,
        with_remaining: bool,
        format: Format,
        adapter: &Adapter<R, T>,
        counters: &Counters,
    ) -> Lookup<T> {
        let read = Read {
            remaining: with_remaining,
            decode: adapter.typing.map(|typing| (typing.decode_any, format)),
            gens: Some(gens),
        };
        match store.get(key, read).await {
            Ok(fetched) => match fetched.found {
                Some(found) => self.decode(key, found, fetched.basis, format, adapter, counters),
                None => {
                    if fetched.undecodable {
                        Counters::add(&counters.undecodable);
                        if let Some(held_back) = self.undecodable.admit() {
                            tracing::warn!(key, held_back, "cache: the key holds bytes that are not an entry of this cache; treating them as a miss and overwriting them");
                        }
                    }
                    Lookup::Miss(fetched.basis)
                }
            },
            Err(error) => {
                self.store_failed(counters, "get", &error);
                if error.is_outage() {
                    Lookup::Unreachable
                } else {
                    Lookup::Miss(Basis::default())
                }
            }
        }
    }

    /// A found entry as a `T`: a clone of the kept value, else decoded; bytes that are not a `T`
    /// are a counted miss, and so are bytes of another codec (not logged per call).
    pub(super) fn decode<R, T: DeserializeOwned>(
        &self,
        key: &str,
        found: Found,
        basis: Basis,
        format: Format,
        adapter: &Adapter<R, T>,
        counters: &Counters,
    ) -> Lookup<T> {
        if let (Some(typed), Some(typing)) = (&found.typed, &adapter.typing) {
            // The kept value was decoded by (or written from) a site of the entry's codec.
            if format.reads(&found.value) {
                if let Some(value) = (typing.from_any)(&**typed) {
                    return Lookup::Hit(value, found.remaining, basis);
                }
            }
        }
        match format.decode::<T>(&found.value) {
            Ok(value) => Lookup::Hit(value, found.remaining, basis),
            Err(DecodeError::Mismatch(_)) => {
                Counters::add(&counters.codec_mismatch);
                Lookup::Miss(basis)
            }
            Err(error) => {
                Counters::add(&counters.undecodable);
                if let Some(held_back) = self.undecodable.admit() {
                    tracing::warn!(key, %error, held_back, "cache: entry does not decode as the function's type; treating it as a miss and overwriting it");
                }
                Lookup::Miss(basis)
            }
        }
    }
}
