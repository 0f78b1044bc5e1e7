//! Deleting entries: one key, an index set (by function, policy, tenant, tag), a key prefix
//! (a tenant's whole keyspace), and what `#[cache_evict]` names.
//!
//! # Mechanism: index sets beside the entries
//!
//! Every stored entry also joins a few index sets (named by `crate::key`; Redis sets, or the
//! in-process store's own index): its function's, its policy's, its tenant's, its tenant's of
//! that function and policy, and one per tag. An invalidation walks one set with `SSCAN` and
//! deletes its members (and their stale copies) with batched `UNLINK`, then the set.
//!
//! An invalidation that cannot reach the store is kept (`engine::pending`) and replayed, in the
//! background and before any call is served from the store again; the caller learns that it was
//! kept ([`InvalidateError::is_queued`]). Each invalidation also leaves a mark (see
//! `KeyLayout::mark`) holding the store's time (Redis `TIME`): before a value is computed the
//! engine reads that clock, and the write checks, in the same script that makes it, that none of
//! the marks of its key, index sets, tenant and prefix was set at or after that moment, so that
//! a value computed before an invalidation never lands after it, in this process or another. One
//! clock, no margins; the price is one `TIME` round trip before the function runs on a miss.
//!
//! Costs: a hit pays nothing (no extra command); a write adds `SADD` + two `PEXPIRE`s per set to
//! the write's pipeline (same round trip); an invalidation costs one `SSCAN` page and one
//! `UNLINK` per 256 entries. Each set lives as long as its longest-lived member (`PEXPIRE NX`
//! then `PEXPIRE GT`, Redis 7.0 or later). If Redis evicts a set under memory pressure, the
//! entries it indexed can no longer be invalidated by that set and live out their TTL;
//! `Cache::purge_tenant` scans the keyspace instead (`SCAN` with an escaped `MATCH`, on every
//! node) for when that must not happen.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use super::pending::Invalidation;
use super::site::{Eviction, Site};
use super::Engine;
use crate::key::{self, EntryKey};
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
            self.delete_index(&self.layout.entry_tag_index(entry, tag))
                .await?;
        }
        if eviction.tenant_entries {
            self.delete_index(&self.layout.entry_tenant_index(entry))
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
        self.delete_index(&self.layout.function_index(&site.identity().path))
            .await
    }

    /// Deletes entries by key, with their stale copies, in one round trip.
    pub(crate) async fn delete_keys(&self, keys: Vec<String>) -> Result<u64, InvalidateError> {
        self.invalidate(Invalidation::Keys(keys)).await
    }

    /// Deletes every entry in one index set, with their stale copies.
    pub(crate) async fn delete_index(&self, set: &str) -> Result<u64, InvalidateError> {
        self.invalidate(Invalidation::Index(set.to_owned())).await
    }

    /// Deletes every key starting with `prefix`.
    pub(crate) async fn delete_prefix(&self, prefix: &str) -> Result<u64, InvalidateError> {
        self.invalidate(Invalidation::Prefix(prefix.to_owned()))
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
                let everything = || Invalidation::Prefix(self.layout.everything());
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
            Invalidation::Index(set) => {
                let names = vec![self.layout.mark(set)];
                store
                    .delete_index(set, Some(key::stale_key), Some(marks(names)))
                    .await
            }
            Invalidation::Prefix(prefix) => {
                let names = vec![self.layout.mark(prefix)];
                store.delete_prefix(prefix, Some(marks(names))).await
            }
            Invalidation::Bookkeeping(prefix) => store.delete_prefix(prefix, None).await,
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
