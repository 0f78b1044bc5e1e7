//! Typed entries: a keyspace declared once with [`keyspace!`](crate::keyspace), read and written
//! by key arguments, with the key layout, tenant scope, codec, breaker and silent fallback of
//! `#[cached]`.
//!
//! The value is stored as plain JSON (no envelope), so any other client reads and writes the
//! same entries: `SET v1:_:session:u1 '{"userId":"u1"}' PX 1800000` from Python is a session
//! that `SESSIONS.get("u1")` returns. The key is `{prefix}:{tenant}:{rendered template}`, the
//! tenant the current [`tenant::scope`](crate::tenant::scope) (`_` outside any).
//!
//! Nothing here raises: a read that fails answers `None`, a write `false` (or
//! [`Update::Failed`]), and each failure is counted in [`Stats::direct`](crate::Stats).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::direct_stats::DirectCounters;
use crate::engine::site::Ttl;
use crate::engine::Engine;
use crate::key::KeyBuilder;
use crate::store::direct::Direct;
use crate::tenant;

/// What [`update`](Keyspace::update) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Update<T> {
    /// The new value is stored; no concurrent write was lost.
    Stored(T),
    /// The closure returned `None`: nothing was written.
    Unchanged,
    /// Nothing was written: the store failed, the stored value did not decode, or concurrent
    /// writes won every attempt (counted in `Stats::direct`).
    Failed,
}

impl<T> Update<T> {
    /// The stored value, if the update stored one.
    pub fn stored(self) -> Option<T> {
        match self {
            Update::Stored(value) => Some(value),
            _ => None,
        }
    }
}

/// Attempts of one `update` before it gives up: each lost attempt means another writer's update
/// landed, so the system as a whole made progress.
const UPDATE_ATTEMPTS: usize = 64;

static WARNED_UNINITIALISED: AtomicBool = AtomicBool::new(false);

/// A declared keyspace of values of type `T`. Declared with [`keyspace!`](crate::keyspace),
/// whose accessors build the key from their arguments and call these.
#[doc(hidden)]
pub struct Keyspace<T> {
    ttl: Ttl,
    value: PhantomData<fn() -> T>,
}

/// A key built from a keyspace's template and arguments; `None` when an argument could not be
/// written into it (logged).
#[doc(hidden)]
pub struct KeyspaceKey {
    key: Option<KeyBuilder>,
}

impl KeyspaceKey {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            key: Some(KeyBuilder::new(None)),
        }
    }

    /// Literal template text, checked at compile time.
    pub fn text(&mut self, text: &'static str) {
        if let Some(key) = &mut self.key {
            key.text(text);
        }
    }

    /// One argument, escaped.
    pub fn arg<A: Serialize + ?Sized>(&mut self, value: &A) {
        if let Some(key) = &mut self.key {
            if let Err(error) = key.arg(value) {
                tracing::warn!(%error, "cache: an argument could not be written into a keyspace key; the operation is skipped");
                self.key = None;
            }
        }
    }
}

/// The cache in use, its raw store and the full key.
struct Target {
    engine: Arc<Engine>,
    key: String,
}

impl Target {
    fn resolve(key: KeyspaceKey) -> Option<Target> {
        let Some(engine) = Engine::current() else {
            if !WARNED_UNINITIALISED.swap(true, Ordering::Relaxed) {
                tracing::warn!("cache: no cache is installed, so keyspaces read nothing and write nothing; call cache_runtime::init_from_env() at start-up");
            }
            return None;
        };
        engine.direct()?;
        let key = key.key?;
        let key = tenant::with_current(|tenant| engine.layout().entry(key, tenant, 0).key);
        Some(Target { engine, key })
    }

    /// The store: always there, `resolve` found it (the option is the engine's, for a cache
    /// with caching disabled).
    fn store(&self) -> Option<&dyn Direct> {
        self.engine.direct()
    }

    fn counters(&self) -> &DirectCounters {
        self.engine.direct_counters()
    }

    fn read_failed(&self, error: &crate::store::StoreError) {
        DirectCounters::add(&self.counters().read_errors);
        tracing::debug!(key = %self.key, %error, "cache: keyspace read failed");
    }

    fn write_failed(&self, error: &crate::store::StoreError) {
        DirectCounters::add(&self.counters().write_errors);
        tracing::debug!(key = %self.key, %error, "cache: keyspace write failed");
    }
}

impl<T: Serialize + DeserializeOwned> Keyspace<T> {
    pub const fn new(ttl: Ttl) -> Self {
        Self {
            ttl,
            value: PhantomData,
        }
    }

    fn ttl_in(&self, engine: &Engine) -> Duration {
        engine.ttl(&self.ttl)
    }

    /// The full key in the cache and tenant in use here.
    pub fn key(&self, key: KeyspaceKey) -> Option<String> {
        Target::resolve(key).map(|target| target.key)
    }

    pub async fn get(&self, key: KeyspaceKey) -> Option<T> {
        let target = Target::resolve(key)?;
        match target.store()?.fetch(&target.key).await {
            Ok(bytes) => decode(&target, bytes.as_ref()),
            Err(error) => {
                target.read_failed(&error);
                None
            }
        }
    }

    pub async fn set(&self, key: KeyspaceKey, value: &T) -> bool {
        let Some(target) = Target::resolve(key) else {
            return false;
        };
        let Ok(bytes) = to_json(value) else {
            DirectCounters::add(&target.counters().write_errors);
            return false;
        };
        let ttl = self.ttl_in(&target.engine);
        let Some(store) = target.store() else {
            return false;
        };
        match store.replace(&target.key, bytes, ttl).await {
            Ok(()) => true,
            Err(error) => {
                target.write_failed(&error);
                false
            }
        }
    }

    pub async fn delete(&self, key: KeyspaceKey) -> bool {
        let Some(target) = Target::resolve(key) else {
            return false;
        };
        let Some(store) = target.store() else {
            return false;
        };
        match store.discard(&target.key).await {
            Ok(existed) => existed,
            Err(error) => {
                target.write_failed(&error);
                false
            }
        }
    }

    pub async fn exists(&self, key: KeyspaceKey) -> bool {
        let Some(target) = Target::resolve(key) else {
            return false;
        };
        let Some(store) = target.store() else {
            return false;
        };
        match store.exists(&target.key).await {
            Ok(exists) => exists,
            Err(error) => {
                target.read_failed(&error);
                false
            }
        }
    }

    pub async fn ttl(&self, key: KeyspaceKey) -> Option<Duration> {
        let target = Target::resolve(key)?;
        match target.store()?.remaining(&target.key).await {
            Ok(remaining) => remaining,
            Err(error) => {
                target.read_failed(&error);
                None
            }
        }
    }

    pub async fn touch(&self, key: KeyspaceKey) -> bool {
        let Some(target) = Target::resolve(key) else {
            return false;
        };
        let ttl = self.ttl_in(&target.engine);
        let Some(store) = target.store() else {
            return false;
        };
        match store.extend(&target.key, ttl).await {
            Ok(extended) => extended,
            Err(error) => {
                target.write_failed(&error);
                false
            }
        }
    }

    pub async fn update<F>(&self, key: KeyspaceKey, mut change: F) -> Update<T>
    where
        F: FnMut(Option<T>) -> Option<T>,
    {
        let Some(target) = Target::resolve(key) else {
            return Update::Failed;
        };
        let ttl = self.ttl_in(&target.engine);
        let Some(store) = target.store() else {
            return Update::Failed;
        };
        for _ in 0..UPDATE_ATTEMPTS {
            let current = match store.fetch(&target.key).await {
                Ok(current) => current,
                Err(error) => {
                    target.write_failed(&error);
                    return Update::Failed;
                }
            };
            let value = match &current {
                Some(bytes) => match decode(&target, Some(bytes)) {
                    Some(value) => Some(value),
                    // Not ours to overwrite: another writer stored something else here.
                    None => return Update::Failed,
                },
                None => None,
            };
            let Some(next) = change(value) else {
                return Update::Unchanged;
            };
            let Ok(bytes) = to_json(&next) else {
                DirectCounters::add(&target.counters().write_errors);
                return Update::Failed;
            };
            match store
                .compare_and_set(&target.key, current.as_deref(), bytes, ttl)
                .await
            {
                Ok(true) => return Update::Stored(next),
                Ok(false) => tokio::task::yield_now().await,
                Err(error) => {
                    target.write_failed(&error);
                    return Update::Failed;
                }
            }
        }
        DirectCounters::add(&target.counters().update_conflicts);
        tracing::warn!(key = %target.key, attempts = UPDATE_ATTEMPTS, "cache: keyspace update lost every attempt to concurrent writes and was given up");
        Update::Failed
    }
}

/// Typed entries are plain JSON whatever codec `#[cached]` functions use, so that other clients
/// (a Python service sharing the sessions) read and write them.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<bytes::Bytes, serde_json::Error> {
    serde_json::to_vec(value).map(bytes::Bytes::from)
}

fn decode<T: DeserializeOwned>(target: &Target, bytes: Option<&bytes::Bytes>) -> Option<T> {
    match serde_json::from_slice(bytes?) {
        Ok(value) => Some(value),
        Err(error) => {
            DirectCounters::add(&target.counters().undecodable);
            tracing::debug!(key = %target.key, %error, "cache: a keyspace value does not decode as its type; read as absent");
            None
        }
    }
}
