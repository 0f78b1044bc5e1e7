//! The counters of each call site in one engine, found on the hot path without a lock, a hash
//! or a reference count.
//!
//! # Design
//!
//! Each [`Site`] (a `static` of the expansion) gets a small number of its own, dense from 0, the
//! first time it is used ([`Site::index`]: one `OnceLock` load afterwards). Each engine keeps a
//! table indexed by that number: buckets of doubling size (32, 64, 128, …) created on demand,
//! each slot a `OnceLock<Counters>` filled the first time the site calls into this engine. A
//! call finds its counters with three loads (the site's number, the bucket, the slot) and
//! borrows them from the engine it already holds: no `Arc` clone, no `RwLock`, no hashing of the
//! policy name. Counting is then a relaxed `fetch_add` (see [`Counters`]).
//!
//! Why not cache the last engine's counters on the `Site` itself (an engine id and an `Arc`
//! behind an `ArcSwap`, compared on each call)? Several engines live in one process (tests give
//! each its own cache with `Cache::scope`; a service may have a cache per backend), and sites
//! called alternately from two of them would take the slow path on every switch; the `Arc` kept
//! on the site would also keep a dropped engine's counters alive and hand them out again to an
//! engine that reuses its address. Here each engine owns its counters outright, they die with it,
//! and no interleaving costs more than the three loads.
//!
//! Buckets are never moved once made, so a slot's address is stable for the engine's lifetime:
//! that is what lets callers borrow `&Counters` instead of cloning an `Arc`. The cost is memory
//! for sites never called in this engine: an empty slot is a few hundred bytes (more with the
//! `metrics` feature's handles), and a bucket is only made when a site numbered in it is used.
//!
//! `Stats` is built from the same table: per function as it is, per policy by summing the
//! functions of each policy.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::site::Site;
use crate::metrics::{Counters, PolicyStats};

/// Slots in the first bucket; each next bucket is twice the size of the one before.
const FIRST: u64 = 32;
/// Enough buckets for every `u32` site number.
const BUCKETS: usize = 28;

type Bucket = Box<[OnceLock<Counters>]>;

/// The counters of every site that called into one engine.
pub(crate) struct SiteCounters {
    buckets: [OnceLock<Bucket>; BUCKETS],
    /// For a site number beyond the table: not reachable with `u32` numbers, but kept so that
    /// finding counters has no panicking path.
    beyond: Counters,
}

impl Default for SiteCounters {
    fn default() -> Self {
        Self {
            buckets: [const { OnceLock::new() }; BUCKETS],
            beyond: Counters::default(),
        }
    }
}

/// The bucket and the slot in it of site number `index`.
#[inline]
fn locate(index: u32) -> (usize, usize) {
    let shifted = u64::from(index) + FIRST;
    let bucket = (63 - shifted.leading_zeros()) as usize - FIRST.trailing_zeros() as usize;
    let start = (FIRST << bucket) - FIRST;
    (bucket, (u64::from(index) - start) as usize)
}

impl SiteCounters {
    /// The counters of `site` in this engine, made (and, with the `metrics` feature,
    /// registered) on its first call.
    #[inline]
    pub(crate) fn get(&self, site: &'static Site) -> &Counters {
        let (bucket, slot) = locate(site.index());
        let Some(bucket_cell) = self.buckets.get(bucket) else {
            return &self.beyond;
        };
        let slots = bucket_cell.get_or_init(|| {
            (0..FIRST << bucket)
                .map(|_| OnceLock::new())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        match slots.get(slot) {
            Some(counters) => counters.get_or_init(|| Counters::new(site.label(), site.path())),
            None => &self.beyond,
        }
    }

    fn each(&self) -> impl Iterator<Item = &Counters> {
        self.buckets
            .iter()
            .filter_map(OnceLock::get)
            .flat_map(|slots| slots.iter().filter_map(OnceLock::get))
    }

    /// The `n` most requested keys of the function at `function` (see `metrics::popular`).
    pub(crate) fn popular(&self, function: &str, n: usize) -> Vec<String> {
        let held = self
            .each()
            .filter(|counters| counters.function == function)
            .flat_map(|counters| counters.popular.snapshot());
        crate::metrics::popular::top(held, n)
    }

    /// Stats by policy (the sum of its functions) and by function.
    pub(crate) fn snapshot(
        &self,
    ) -> (BTreeMap<String, PolicyStats>, BTreeMap<String, PolicyStats>) {
        let mut policies = BTreeMap::<String, PolicyStats>::new();
        let mut functions = BTreeMap::<String, PolicyStats>::new();
        for counters in self.each() {
            let stats = counters.snapshot();
            policies
                .entry(counters.policy.to_owned())
                .or_default()
                .merge(&stats);
            // Two sites share a path only if one function is both a `#[cached]` item and the
            // target of a companion's `function = …`; they are one function to the reader.
            functions
                .entry(counters.function.to_owned())
                .or_default()
                .merge(&stats);
        }
        (policies, functions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_numbers_fill_the_buckets_in_order() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(31), (0, 31));
        assert_eq!(locate(32), (1, 0));
        assert_eq!(locate(95), (1, 63));
        assert_eq!(locate(96), (2, 0));
        let (bucket, slot) = locate(u32::MAX);
        assert!(bucket < BUCKETS);
        assert!(slot < (FIRST << bucket) as usize);
    }
}
