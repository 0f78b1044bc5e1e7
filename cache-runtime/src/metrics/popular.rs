//! The most requested keys of one call site, approximately, in bounded memory: what
//! [`Cache::popular`](crate::Cache::popular) reads so that the popular entries can be warmed.
//!
//! # Design
//!
//! The Space-Saving algorithm (Metwally, Agrawal, El Abbadi, 2005): at most [`CAPACITY`] keys,
//! each with a count. A key already held gets `+weight`; a new key takes a free slot, or, when
//! all are taken, replaces the key with the smallest count and inherits that count (plus its
//! weight). Any key requested more than `total / CAPACITY` times is guaranteed to be held, and
//! counts over-estimate by at most the count they inherited, so the order of the heavy hitters
//! of a skewed distribution (the case warming is for) is right. Memory is `CAPACITY` keys per
//! site, whatever the number of distinct arguments.
//!
//! Why not a count-min sketch with a heap? The sketch needs a few kilobytes of counters per site
//! to keep its error small, and still a bounded heap of keys beside it; Space-Saving is only
//! that heap. Why not a bounded map with decay? Decay needs a clock or a sweep, and its
//! eviction rule (drop the smallest) loses exactly the counts that Space-Saving keeps as a bound.
//!
//! # Cost on the hit path
//!
//! One relaxed `fetch_add` (the site's call number). A site's first [`EXACT`] calls are all
//! counted; after that one call in [`SAMPLE`] is, with weight `SAMPLE`, chosen by a Fibonacci
//! hash of the call number (equidistributed over any periodic pattern of calls, so no key is
//! sampled more or less often than its share). A counted call takes the lock with `try_lock`
//! and is dropped when another thread holds it: counting never waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Keys held per site.
pub(crate) const CAPACITY: usize = 64;
/// Calls counted one by one before sampling begins.
pub(crate) const EXACT: u64 = 4096;
/// After [`EXACT`] calls, one call in this many is counted (a power of two).
pub(crate) const SAMPLE: u64 = 8;

/// The most requested keys of one site (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Popular {
    calls: AtomicU64,
    counts: Mutex<HashMap<String, u64>>,
}

impl Popular {
    /// One request of `key`.
    #[inline]
    pub(crate) fn record(&self, key: &str) {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let weight = if call < EXACT {
            1
        } else if call.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SAMPLE.trailing_zeros()) == 0 {
            SAMPLE
        } else {
            return;
        };
        let Ok(mut counts) = self.counts.try_lock() else {
            return;
        };
        if let Some(count) = counts.get_mut(key) {
            *count += weight;
            return;
        }
        if counts.len() < CAPACITY {
            counts.insert(key.to_owned(), weight);
            return;
        }
        let smallest = counts
            .iter()
            .min_by_key(|(_, count)| **count)
            .map(|(key, count)| (key.clone(), *count));
        if let Some((smallest, count)) = smallest {
            counts.remove(&smallest);
            counts.insert(key.to_owned(), count + weight);
        }
    }

    /// The held keys with their (over-)estimated counts, in no order.
    pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
        match self.counts.lock() {
            Ok(counts) => counts.iter().map(|(k, c)| (k.clone(), *c)).collect(),
            Err(poisoned) => poisoned
                .into_inner()
                .iter()
                .map(|(k, c)| (k.clone(), *c))
                .collect(),
        }
    }
}

/// The `n` keys with the highest counts in `counts` (summed per key), highest first, ties by key.
pub(crate) fn top(counts: impl IntoIterator<Item = (String, u64)>, n: usize) -> Vec<String> {
    let mut summed = HashMap::<String, u64>::new();
    for (key, count) in counts {
        *summed.entry(key).or_default() += count;
    }
    let mut ranked: Vec<(String, u64)> = summed.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.into_iter().take(n).map(|(key, _)| key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_hitters_survive_a_stream_of_distinct_keys() {
        let popular = Popular::default();
        for round in 0..2_000u64 {
            popular.record("hot");
            if round % 2 == 0 {
                popular.record("warm");
            }
            popular.record(&format!("cold-{round}"));
        }
        let held = popular.snapshot();
        assert_eq!(held.len(), CAPACITY);
        assert_eq!(top(held, 2), ["hot", "warm"]);
    }

    #[test]
    fn sampled_counts_keep_the_order() {
        let popular = Popular::default();
        for call in 0..(EXACT * 4) {
            popular.record(if call % 3 == 0 { "a" } else { "b" });
        }
        assert_eq!(top(popular.snapshot(), 2), ["b", "a"]);
    }
}
