//! Invalidations that could not reach the store, kept until they can: bounded, de-duplicated,
//! replayed in order. When the queue is full it is replaced by one invalidation of everything
//! under the key prefix: coarse, but nothing stale is served and nothing is lost silently.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::key::{GenTarget, Scope};
use crate::metrics::InvalidationStats;

/// How many invalidations wait at most before the queue collapses into one of everything.
const CAPACITY: usize = 4096;

/// One invalidation, as the store carries it out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Invalidation {
    /// These entries (and their stale copies).
    Keys(Vec<String>),
    /// Every entry of this scope.
    Scope(Scope),
    /// Every key under this prefix: its generation is bumped, and with `scan` the keys are
    /// deleted from Redis too.
    Prefix {
        prefix: String,
        generation: GenTarget,
        scan: bool,
    },
    /// Every key under this prefix of the bookkeeping namespace (index sets, marks): no mark.
    Bookkeeping(String),
}

#[derive(Default)]
struct Queue {
    order: VecDeque<Invalidation>,
    seen: HashSet<Invalidation>,
}

#[derive(Default)]
pub(crate) struct Pending {
    queue: Mutex<Queue>,
    waiting: AtomicBool,
    /// Invalidations carried out when asked (counted here beside the others, though they
    /// never waited).
    done: AtomicU64,
    queued: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
    /// One replay at a time; a caller that finds one under way does not wait for it.
    pub(crate) replaying: tokio::sync::Mutex<()>,
    /// Whether a background task is replaying.
    pub(crate) replayer: AtomicBool,
    #[cfg(feature = "metrics")]
    exported: crate::metrics::InvalidationMetrics,
}

impl Pending {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether any invalidation waits: then nothing may be served from the store.
    pub(crate) fn any(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    /// An invalidation was carried out when asked.
    pub(crate) fn done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.exported.done.increment(1);
    }

    /// Keeps `invalidation`; when the queue is full, replaces it with `everything`.
    pub(crate) fn push(
        &self,
        invalidation: Invalidation,
        everything: impl FnOnce() -> Invalidation,
    ) {
        let mut queue = self.queue();
        self.queued.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.exported.queued.increment(1);
        if queue.seen.contains(&invalidation) {
            return;
        }
        if queue.order.len() >= CAPACITY {
            let dropped = queue.order.len() as u64 + 1;
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            self.exported.dropped.increment(dropped);
            tracing::error!(capacity = CAPACITY, "cache: too many invalidations wait for Redis; they are replaced by one invalidation of every entry under the key prefix");
            queue.order.clear();
            queue.seen.clear();
            let everything = everything();
            queue.seen.insert(everything.clone());
            queue.order.push_back(everything);
        } else {
            queue.seen.insert(invalidation.clone());
            queue.order.push_back(invalidation);
        }
        self.waiting.store(true, Ordering::Release);
    }

    /// The oldest waiting invalidation.
    pub(crate) fn first(&self) -> Option<Invalidation> {
        self.queue().order.front().cloned()
    }

    /// `invalidation`, the oldest, was carried out.
    pub(crate) fn replayed(&self, invalidation: &Invalidation) {
        let mut queue = self.queue();
        if queue.order.front() == Some(invalidation) {
            queue.order.pop_front();
            queue.seen.remove(invalidation);
            self.replayed.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            self.exported.replayed.increment(1);
        }
        if queue.order.is_empty() {
            self.waiting.store(false, Ordering::Release);
        }
    }

    pub(crate) fn stats(&self) -> InvalidationStats {
        InvalidationStats {
            done: self.done.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            pending: self.queue().order.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everything() -> Invalidation {
        Invalidation::Prefix {
            prefix: "v1:".to_owned(),
            generation: GenTarget {
                key: "v1:gen".to_owned(),
                field: None,
                expires: false,
            },
            scan: false,
        }
    }

    fn scope(name: &str) -> Invalidation {
        Invalidation::Scope(Scope {
            set: name.to_owned(),
            generation: GenTarget {
                key: name.to_owned(),
                field: None,
                expires: true,
            },
        })
    }

    #[test]
    fn invalidations_are_kept_once_and_replayed_in_order() {
        let pending = Pending::default();
        let (a, b) = (scope("a"), Invalidation::Keys(vec!["b".into()]));
        pending.push(a.clone(), everything);
        pending.push(b.clone(), everything);
        pending.push(a.clone(), everything);
        assert_eq!(pending.stats().pending, 2, "de-duplicated");
        assert_eq!(pending.first(), Some(a.clone()));
        pending.replayed(&a);
        assert!(pending.any());
        pending.replayed(&b);
        assert!(!pending.any());
        let stats = pending.stats();
        assert_eq!((stats.queued, stats.replayed, stats.pending), (3, 2, 0));
    }

    #[test]
    fn a_full_queue_becomes_one_invalidation_of_everything() {
        let pending = Pending::default();
        for i in 0..=CAPACITY {
            pending.push(scope(&i.to_string()), everything);
        }
        assert_eq!(pending.first(), Some(everything()));
        let stats = pending.stats();
        assert_eq!(stats.pending, 1);
        assert_eq!(stats.dropped, CAPACITY as u64 + 1);
    }
}
