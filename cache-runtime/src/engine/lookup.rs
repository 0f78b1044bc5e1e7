//! The read half of get-or-set: the lookup and its decoding.

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{Adapter, Engine};
use crate::codec::{DecodeError, Format};
use crate::metrics::Counters;
use crate::store::{Found, Local, Read, Store};

/// What a lookup found.
pub(super) enum Lookup<T> {
    /// A decodable entry, with its remaining TTL when asked for.
    Hit(T, Option<Duration>),
    /// No entry, or one that does not decode, or a refused command: compute and store.
    Miss,
    /// The store is down, slow or behind an open breaker: compute, and do not wait for a write.
    Unreachable,
}

impl Engine {
    pub(super) async fn lookup<R, T: DeserializeOwned>(
        &self,
        store: &dyn Store,
        key: &str,
        with_remaining: bool,
        format: Format,
        adapter: &Adapter<R, T>,
        counters: &Counters,
    ) -> Lookup<T> {
        // Early refresh needs the entry's real remaining TTL, which only the store knows.
        if !with_remaining {
            match store.get_local(key) {
                Local::Hit(found) => return self.decode(key, found, format, adapter, counters),
                Local::Miss => return Lookup::Miss,
                Local::Ask => {}
            }
        }
        let read = Read {
            remaining: with_remaining,
            decode: adapter.typing.map(|typing| (typing.decode_any, format)),
        };
        match store.get(key, read).await {
            Ok(Some(found)) => self.decode(key, found, format, adapter, counters),
            Ok(None) => Lookup::Miss,
            Err(error) => {
                self.store_failed(counters, "get", &error);
                if error.is_outage() {
                    Lookup::Unreachable
                } else {
                    Lookup::Miss
                }
            }
        }
    }

    /// A found entry as a `T`: a clone of the kept value, else decoded; bytes that are not a `T`
    /// are a counted miss, and so are bytes of another codec (not logged per call).
    fn decode<R, T: DeserializeOwned>(
        &self,
        key: &str,
        found: Found,
        format: Format,
        adapter: &Adapter<R, T>,
        counters: &Counters,
    ) -> Lookup<T> {
        if let (Some(typed), Some(typing)) = (&found.typed, &adapter.typing) {
            // The kept value was decoded by (or written from) a site of the entry's codec.
            if format.reads(&found.value) {
                if let Some(value) = (typing.from_any)(&**typed) {
                    return Lookup::Hit(value, found.remaining);
                }
            }
        }
        match format.decode::<T>(&found.value) {
            Ok(value) => Lookup::Hit(value, found.remaining),
            Err(DecodeError::Mismatch(_)) => {
                Counters::add(&counters.codec_mismatch);
                Lookup::Miss
            }
            Err(error) => {
                Counters::add(&counters.undecodable);
                if let Some(held_back) = self.undecodable.admit() {
                    tracing::warn!(key, %error, held_back, "cache: entry does not decode as the function's type; treating it as a miss and overwriting it");
                }
                Lookup::Miss
            }
        }
    }
}
