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
//!
//! A counted call hashes its key once, a word at a time, and makes one pass over the held keys
//! (a `Vec`, compared by that hash first, then by the key) that both finds the key and the one
//! with the smallest count; a replaced key's `String` is reused. With a `HashMap` it hashed the
//! key three times with SipHash, walked the table again for the smallest and allocated the new
//! key: about 2,800 instructions per counted call when every slot is taken and keys keep coming
//! (the `compare` bench's 10,000 hot keys), 354 per call averaged over the sampling, against
//! about 1,000 and 125 now (callgrind, as in `tests/benches/PROFILE.md`).

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
    held: Mutex<Vec<Held>>,
}

/// One held key, its count, and the hash it is found by.
#[derive(Debug)]
struct Held {
    hash: u64,
    key: String,
    count: u64,
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
        let Ok(mut held) = self.held.try_lock() else {
            return;
        };
        count(&mut held, key, weight);
    }

    /// The held keys with their (over-)estimated counts, in no order.
    pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
        let held = match self.held.lock() {
            Ok(held) => held,
            Err(poisoned) => poisoned.into_inner(),
        };
        held.iter().map(|h| (h.key.clone(), h.count)).collect()
    }
}

/// Space-Saving's step: `key` gets `weight` more, taking a free slot, else the place (and the
/// count) of the key with the smallest count.
fn count(held: &mut Vec<Held>, key: &str, weight: u64) {
    let hash = hash(key);
    let mut smallest: Option<(usize, u64)> = None;
    for (at, entry) in held.iter_mut().enumerate() {
        if entry.hash == hash && entry.key == key {
            entry.count += weight;
            return;
        }
        if smallest.is_none_or(|(_, count)| entry.count < count) {
            smallest = Some((at, entry.count));
        }
    }
    if held.len() < CAPACITY {
        held.push(Held {
            hash,
            key: key.to_owned(),
            count: weight,
        });
        return;
    }
    if let Some(entry) = smallest.and_then(|(at, _)| held.get_mut(at)) {
        entry.hash = hash;
        entry.key.clear();
        entry.key.push_str(key);
        entry.count += weight;
    }
}

/// A hash of `key` a word at a time (FxHash's step). Not seeded: keys come from arguments, but a
/// collision only costs a comparison of two keys among at most [`CAPACITY`].
fn hash(key: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let step = |hash: u64, word: u64| (hash.rotate_left(5) ^ word).wrapping_mul(K);
    let mut chunks = key.as_bytes().chunks_exact(8);
    let mut hash = key.len() as u64;
    for chunk in &mut chunks {
        hash = step(
            hash,
            u64::from_le_bytes(chunk.try_into().unwrap_or_default()),
        );
    }
    let mut last = [0u8; 8];
    for (to, from) in last.iter_mut().zip(chunks.remainder()) {
        *to = *from;
    }
    step(hash, u64::from_le_bytes(last))
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
    fn a_new_key_takes_the_place_and_count_of_the_smallest() {
        let popular = Popular::default();
        for i in 0..CAPACITY {
            for _ in 0..=i {
                popular.record(&format!("k{i}"));
            }
        }
        // k0 has the smallest count (1): "new" replaces it and counts 1 + 1.
        popular.record("new");
        let held: HashMap<String, u64> = popular.snapshot().into_iter().collect();
        assert_eq!(held.len(), CAPACITY);
        assert_eq!(held.get("k0"), None);
        assert_eq!(held.get("new"), Some(&2));
        assert_eq!(held.get("k1"), Some(&2));
        popular.record("new");
        popular.record("k1");
        let held: HashMap<String, u64> = popular.snapshot().into_iter().collect();
        assert_eq!((held.get("new"), held.get("k1")), (Some(&3), Some(&3)));
    }

    #[test]
    fn keys_of_any_length_hash_apart() {
        let keys = ["", "a", "abcdefg", "abcdefgh", "abcdefghi", "abcdefgh\0"];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a:?} {b:?}");
            }
        }
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
