//! The counters of one call site in one cache: plain atomics, and with the `metrics` feature the
//! facade's handles beside them, registered once when the counters are made. Counting is a
//! relaxed `fetch_add` (plus the handle's own increment): no lookup by name, no lock.

use std::sync::atomic::{AtomicU64, Ordering};

use super::kind::ErrorKind;
use super::PolicyStats;

/// One count: an atomic for [`Stats`](super::Stats), and its exported counter.
#[derive(Debug)]
pub(crate) struct Count {
    value: AtomicU64,
    #[cfg(feature = "metrics")]
    exported: metrics::Counter,
}

impl Default for Count {
    fn default() -> Self {
        Self {
            value: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            exported: metrics::Counter::noop(),
        }
    }
}

impl Count {
    #[cfg(feature = "metrics")]
    fn exported(exported: metrics::Counter) -> Self {
        Self {
            value: AtomicU64::new(0),
            exported,
        }
    }

    fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// When a call began, for the latency histograms; nothing without the `metrics` feature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timer {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Timer {
    /// Starts timing a call (reads the clock only with the `metrics` feature).
    #[inline]
    pub(crate) fn start() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }
}

/// The counters of one `#[cached]` function in one cache, labelled with its policy and path.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// The policy's name, or the function's path for a literal TTL (as in [`Stats::policies`]).
    ///
    /// [`Stats::policies`]: super::Stats::policies
    pub(crate) policy: &'static str,
    /// The function's path.
    pub(crate) function: &'static str,
    pub(crate) hits: Count,
    pub(crate) misses: Count,
    errors: AtomicU64,
    pub(crate) undecodable: Count,
    pub(crate) codec_mismatch: Count,
    pub(crate) oversized: Count,
    pub(crate) unencodable: Count,
    pub(crate) bypassed: Count,
    pub(crate) stale: Count,
    pub(crate) refreshed: Count,
    pub(crate) reentered: Count,
    pub(crate) superseded: Count,
    pub(crate) waited: Count,
    /// The most requested keys, for warming.
    pub(crate) popular: super::popular::Popular,
    #[cfg(feature = "metrics")]
    exported: super::export::SiteMetrics,
}

impl Counters {
    /// The counters of the function at `function` under `policy`; with the `metrics` feature,
    /// registers their handles with the recorder installed now.
    pub(crate) fn new(policy: &'static str, function: &'static str) -> Self {
        #[cfg(feature = "metrics")]
        {
            let exported = super::export::SiteMetrics::register(policy, function);
            let count = |name: &'static str| Count::exported(exported.counter(name));
            Self {
                policy,
                function,
                hits: count("cache_hits_total"),
                misses: count("cache_misses_total"),
                errors: AtomicU64::new(0),
                undecodable: count("cache_undecodable_total"),
                codec_mismatch: count("cache_codec_mismatch_total"),
                oversized: count("cache_oversized_total"),
                unencodable: count("cache_unencodable_total"),
                bypassed: count("cache_bypassed_total"),
                stale: count("cache_stale_served_total"),
                refreshed: count("cache_refreshes_total"),
                reentered: count("cache_reentered_total"),
                superseded: count("cache_superseded_total"),
                waited: count("cache_single_flight_waits_total"),
                popular: Default::default(),
                exported,
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self {
            policy,
            function,
            ..Self::default()
        }
    }

    /// Counts one event.
    #[inline]
    pub(crate) fn add(count: &Count) {
        count.value.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        count.exported.increment(1);
    }

    /// A store operation failed.
    #[inline]
    pub(crate) fn error(&self, kind: ErrorKind) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.exported.errors[kind.index()].increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = kind;
    }

    /// A call answered from the cache, begun at `timer`.
    #[inline]
    pub(crate) fn hit(&self, timer: Timer) {
        Self::add(&self.hits);
        #[cfg(feature = "metrics")]
        self.exported
            .hit_seconds
            .record(timer.started.elapsed().as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = timer;
    }

    /// A call that looked its key up and found nothing usable.
    #[inline]
    pub(crate) fn miss(&self) {
        Self::add(&self.misses);
    }

    /// A missed call, begun at `timer`, returned (computed, waited for, or served stale).
    #[inline]
    pub(crate) fn missed(&self, timer: Timer) {
        #[cfg(feature = "metrics")]
        self.exported
            .miss_seconds
            .record(timer.started.elapsed().as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = timer;
    }

    /// An encoded value of `bytes` is about to be written (or refused as oversized).
    #[inline]
    pub(crate) fn value_size(&self, bytes: usize) {
        #[cfg(feature = "metrics")]
        self.exported.value_bytes.record(bytes as f64);
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }

    pub(crate) fn snapshot(&self) -> PolicyStats {
        let (hits, misses) = (self.hits.get(), self.misses.get());
        PolicyStats {
            hits,
            misses,
            hit_rate: super::hit_rate(hits, misses),
            errors: self.errors.load(Ordering::Relaxed),
            undecodable: self.undecodable.get(),
            codec_mismatch: self.codec_mismatch.get(),
            oversized: self.oversized.get(),
            unencodable: self.unencodable.get(),
            bypassed: self.bypassed.get(),
            stale: self.stale.get(),
            refreshed: self.refreshed.get(),
            reentered: self.reentered.get(),
            superseded: self.superseded.get(),
            waited: self.waited.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_is_hits_over_lookups() {
        let counters = Counters::new("p", "f");
        counters.hit(Timer::start());
        counters.hit(Timer::start());
        counters.hit(Timer::start());
        counters.miss();
        assert_eq!(counters.snapshot().hit_rate, 0.75);
    }

    #[test]
    fn merged_stats_add_up_and_recompute_the_rate() {
        let (a, b) = (Counters::new("p", "a"), Counters::new("p", "b"));
        a.hit(Timer::start());
        b.miss();
        b.error(ErrorKind::Timeout);
        let mut total = a.snapshot();
        total.merge(&b.snapshot());
        assert_eq!((total.hits, total.misses, total.errors), (1, 1, 1));
        assert_eq!(total.hit_rate, 0.5);
    }
}
