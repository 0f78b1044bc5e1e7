//! [`Counter`]: a windowed count per key, e.g. requests per IP per minute.

use std::time::Duration;

use serde::Serialize;

use super::{counter_name, key_parts};
use crate::direct_stats::DirectCounters;
use crate::engine::Engine;
use crate::store::direct::counter_value;

/// A count per key that lives `window` from its first increment (`INCR` + `PEXPIRE … NX`, one
/// round trip), in the cache in use here and the current tenant. Stored as a plain Redis
/// integer: `redis-cli GET` reads it, `INCR` from another client adds to it.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    name: &'static str,
    window: Duration,
}

impl Counter {
    /// A counter named `name` (part of its keys) whose counts last `window`.
    pub const fn new(name: &'static str, window: Duration) -> Self {
        Self { name, window }
    }

    /// Adds 1 to `key`'s count: the count now, `None` when the store failed (counted).
    pub async fn increment<K: Serialize + ?Sized>(&self, key: &K) -> Option<u64> {
        let engine = Engine::current()?;
        let name = counter_name(Some(&engine), key_parts("n", self.name, key)?);
        match engine.direct()?.increment(&name, self.window, None).await {
            Ok(counted) => Some(counted.count),
            Err(_) => {
                DirectCounters::add(&engine.direct_counters().write_errors);
                None
            }
        }
    }

    /// `key`'s count (0 when it has none), `None` when the store failed (counted).
    pub async fn get<K: Serialize + ?Sized>(&self, key: &K) -> Option<u64> {
        let engine = Engine::current()?;
        let name = counter_name(Some(&engine), key_parts("n", self.name, key)?);
        match engine.direct()?.fetch(&name).await {
            Ok(bytes) => Some(counter_value(bytes.as_deref())),
            Err(_) => {
                DirectCounters::add(&engine.direct_counters().read_errors);
                None
            }
        }
    }

    /// Deletes `key`'s count; `false` when the store failed (counted).
    pub async fn reset<K: Serialize + ?Sized>(&self, key: &K) -> bool {
        let Some(engine) = Engine::current() else {
            return false;
        };
        let (Some(name), Some(store)) = (
            key_parts("n", self.name, key).map(|parts| counter_name(Some(&engine), parts)),
            engine.direct(),
        ) else {
            return false;
        };
        match store.discard(&name).await {
            Ok(_) => true,
            Err(_) => {
                DirectCounters::add(&engine.direct_counters().write_errors);
                false
            }
        }
    }
}
