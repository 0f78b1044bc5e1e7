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
//! Costs: a hit pays nothing (no extra command); a write adds `SADD` + two `PEXPIRE`s per set to
//! the write's pipeline (same round trip); an invalidation costs one `SSCAN` page and one
//! `UNLINK` per 256 entries. Each set lives as long as its longest-lived member (`PEXPIRE NX`
//! then `PEXPIRE GT`, Redis 7.0 or later). If Redis evicts a set under memory pressure, the
//! entries it indexed can no longer be invalidated by that set and live out their TTL;
//! `Cache::purge_tenant` scans the keyspace instead (`SCAN` with an escaped `MATCH`, on every
//! node) for when that must not happen.

use std::fmt;

use super::site::{Eviction, Site};
use super::Engine;
use crate::key::{self, EntryKey};
use crate::store::StoreError;

/// An invalidation that could not be carried out: the entries may still be served until their
/// TTL ends. Unlike lookups and writes, invalidations report failure, because the caller changed
/// the source of truth and must know when the cache did not follow.
#[derive(Debug)]
#[non_exhaustive]
pub struct InvalidateError {
    cause: StoreError,
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
        false
    }
}

impl fmt::Display for InvalidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache invalidation failed: {}", self.cause)
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

impl From<StoreError> for InvalidateError {
    fn from(cause: StoreError) -> Self {
        Self { cause }
    }
}

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
        match self.store.as_deref() {
            Some(store) => Ok(store.delete(keys, Some(key::stale_key)).await?),
            None => Ok(0),
        }
    }

    /// Deletes every entry in one index set, with their stale copies.
    pub(crate) async fn delete_index(&self, set: &str) -> Result<u64, InvalidateError> {
        match self.store.as_deref() {
            Some(store) => Ok(store.delete_index(set, Some(key::stale_key)).await?),
            None => Ok(0),
        }
    }

    /// Deletes every key starting with `prefix`.
    pub(crate) async fn delete_prefix(&self, prefix: &str) -> Result<u64, InvalidateError> {
        match self.store.as_deref() {
            Some(store) => Ok(store.delete_prefix(prefix).await?),
            None => Ok(0),
        }
    }
}
