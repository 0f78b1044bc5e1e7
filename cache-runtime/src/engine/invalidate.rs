//! Invalidation: one key, a scope (function, policy, tenant, tag), a key prefix (a tenant's
//! whole keyspace), and what `#[cache_evict]` names.
//!
//! # Mechanism
//!
//! In Redis, a scope has a generation that every entry under it is stamped with; invalidating
//! the scope draws a new one (one command), and a key is invalidated by a tombstone written over
//! it. A value computed before either never lands or is never served: see
//! `store::redis::generation`, which also compares this with the index sets it replaced. The
//! in-process store keeps index sets beside its entries and deletes a scope's members; each
//! invalidation leaves a mark on its clock that refuses writes begun before it.
//!
//! An invalidation that cannot reach the store is kept (`engine::pending`) and replayed, in the
//! background and before any call is served from the store again; the caller learns that it was
//! kept ([`InvalidateError::is_queued`]). `Cache::purge_tenant` also deletes the tenant's keys
//! (`SCAN` with an escaped `MATCH`, on every node), for data deletion requests.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use super::pending::Invalidation;
use super::site::{Eviction, Site};
use super::Engine;
use crate::key::{self, EntryKey, GenTarget, Scope};
use crate::store::{Marks, Store, StoreError};

/// An invalidation that could not be carried out: the entries may still be served until their
/// TTL ends. Unlike lookups and writes, invalidations report failure, because the caller changed
/// the source of truth and must know when the cache did not follow.
#[derive(Debug)]
#[non_exhaustive]
pub struct InvalidateError {
    cause: StoreError,
    queued: bool,
}

impl InvalidateError {
    /// The store did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.cause, StoreError::Timeout)
    }

    /// The breaker is open: Redis was not asked.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.cause, StoreError::BreakerOpen)
    }

    /// The invalidation was kept and is replayed as soon as the store answers, before any
    /// entry is served from it again.
    pub fn is_queued(&self) -> bool {
        self.queued
    }
}

impl fmt::Display for InvalidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache invalidation failed: {}", self.cause)?;
        if self.queued {
            f.write_str(" (kept, and carried out as soon as the store answers, before it serves another entry)")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            StoreError::Redis(error) => Some(error),
            _ => None,
        }
    }
}

/// How long an invalidation's marks live: a write that began longer ago than this cannot be
/// checked against them, and is not made (the next call computes again).
pub(crate) const MARK_WINDOW: Duration = Duration::from_secs(600);

impl Engine {
    /// Deletes what a `#[cache_evict]` names for the call that produced `entry`.
    pub(crate) async fn evict(
        &self,
        entry: &EntryKey,
        eviction: &Eviction,
    ) -> Result<(), InvalidateError> {
        if eviction.key {
            self.delete_keys(vec![entry.key.clone()]).await?;
        }
        for tag in &entry.tags {
            self.delete_scope(self.layout.entry_tag_scope(entry, tag))
                .await?;
        }
        if eviction.tenant_entries {
            self.delete_scope(self.layout.entry_tenant_scope(entry))
                .await?;
        }
        if let Some(function) = eviction.function {
            self.delete_function(function).await?;
        }
        Ok(())
    }

    /// Deletes every entry of the `#[cached]` function at `site`, every tenant.
    pub(crate) async fn delete_function(
        &self,
        site: &'static Site,
    ) -> Result<u64, InvalidateError> {
        self.delete_scope(self.layout.function_scope(&site.identity().path))
            .await
    }

    /// Deletes entries by key, with their stale copies, in one round trip.
    pub(crate) async fn delete_keys(&self, keys: Vec<String>) -> Result<u64, InvalidateError> {
        self.invalidate(Invalidation::Keys(keys)).await
    }

    /// Drops every entry of one scope, with their stale copies. How many entries were deleted
    /// in-process; in Redis none are (they are never served again, and expire), so `0`.
    pub(crate) async fn delete_scope(&self, scope: Scope) -> Result<u64, InvalidateError> {
        self.invalidate(Invalidation::Scope(scope)).await
    }

    /// Drops every key starting with `prefix` (whose generation is `generation`), and deletes
    /// them from Redis too.
    pub(crate) async fn purge_prefix(
        &self,
        prefix: String,
        generation: GenTarget,
    ) -> Result<u64, InvalidateError> {
        self.invalidate(Invalidation::Prefix {
            prefix,
            generation,
            scan: true,
        })
        .await
    }

    /// Deletes every key of the bookkeeping namespace (index sets, marks) under `prefix`.
    pub(crate) async fn delete_bookkeeping(&self, prefix: &str) -> Result<u64, InvalidateError> {
        self.invalidate(Invalidation::Bookkeeping(prefix.to_owned()))
            .await
    }

    /// Carries out `invalidation`, or keeps it for replay when the store does not answer.
    async fn invalidate(&self, invalidation: Invalidation) -> Result<u64, InvalidateError> {
        let Some(store) = self.store.as_deref() else {
            return Ok(0);
        };
        match self.carry_out(store, &invalidation).await {
            Ok(deleted) => {
                self.pending.done();
                Ok(deleted)
            }
            Err(cause) => {
                let everything = || {
                    let (prefix, generation) = self.layout.everything_scope();
                    Invalidation::Prefix {
                        prefix,
                        generation,
                        scan: false,
                    }
                };
                self.pending.push(invalidation, everything);
                self.spawn_replayer();
                Err(InvalidateError {
                    cause,
                    queued: true,
                })
            }
        }
    }

    /// The store operation of `invalidation`, with the marks that keep writes which began
    /// before it from landing after it.
    async fn carry_out(
        &self,
        store: &dyn Store,
        invalidation: &Invalidation,
    ) -> Result<u64, StoreError> {
        let marks = |names: Vec<String>| Marks {
            names,
            ttl: MARK_WINDOW,
        };
        match invalidation {
            Invalidation::Keys(keys) => {
                let names = keys.iter().map(|key| self.layout.mark(key)).collect();
                store
                    .delete(keys.clone(), Some(key::stale_key), Some(marks(names)))
                    .await
            }
            Invalidation::Scope(scope) => {
                let names = vec![self.layout.mark(&scope.set)];
                store
                    .delete_scope(scope, Some(key::stale_key), Some(marks(names)))
                    .await
            }
            Invalidation::Prefix {
                prefix,
                generation,
                scan,
            } => {
                let names = vec![self.layout.mark(prefix)];
                store
                    .delete_prefix(prefix, Some(generation), *scan, Some(marks(names)))
                    .await
            }
            Invalidation::Bookkeeping(prefix) => {
                store.delete_prefix(prefix, None, true, None).await
            }
        }
    }

    /// Carries out the waiting invalidations, oldest first; whether none waits any more. A
    /// caller that finds a replay under way does not wait for it (`false`).
    pub(crate) async fn replay(&self) -> bool {
        let (Some(store), Ok(_replaying)) =
            (self.store.as_deref(), self.pending.replaying.try_lock())
        else {
            return !self.pending.any();
        };
        while let Some(invalidation) = self.pending.first() {
            if self.carry_out(store, &invalidation).await.is_err() {
                return false;
            }
            self.pending.replayed(&invalidation);
        }
        true
    }

    /// Replays in the background until nothing waits, so that other processes stop serving
    /// what this one invalidated as soon as the store answers, whether or not calls come.
    fn spawn_replayer(&self) {
        if self.pending.replayer.swap(true, Ordering::AcqRel) {
            return;
        }
        let (Ok(runtime), Some(engine)) = (
            tokio::runtime::Handle::try_current(),
            self.this.get().and_then(Weak::upgrade),
        ) else {
            self.pending.replayer.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(async move {
            let mut pause = Duration::from_millis(100);
            loop {
                tokio::time::sleep(pause).await;
                if engine.replay().await {
                    engine.pending.replayer.store(false, Ordering::Release);
                    if !engine.pending.any() || engine.pending.replayer.swap(true, Ordering::AcqRel)
                    {
                        return;
                    }
                }
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
    }
}
