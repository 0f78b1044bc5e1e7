//! The `metrics` feature: handles of the [`metrics`] facade, registered once (per call site and
//! cache, per breaker, per invalidation queue) with the recorder installed at that moment, then
//! incremented without any lookup. Labels are the policy and the function only: never a tenant,
//! a key or a value, whose number is unbounded and which may be personal data.
//!
//! A recorder installed after a handle was registered does not see it: install it (e.g.
//! `metrics_exporter_prometheus::PrometheusBuilder::install_recorder`) before building the cache.

use metrics::{counter, histogram, Counter, Histogram};

use super::kind::ErrorKind;

/// The handles of one call site that are not plain counts.
#[derive(Debug)]
pub(super) struct SiteMetrics {
    policy: &'static str,
    function: &'static str,
    pub(super) errors: [Counter; 4],
    pub(super) hit_seconds: Histogram,
    pub(super) miss_seconds: Histogram,
    pub(super) value_bytes: Histogram,
}

impl Default for SiteMetrics {
    fn default() -> Self {
        Self {
            policy: "",
            function: "",
            errors: [const { Counter::noop() }; 4],
            hit_seconds: Histogram::noop(),
            miss_seconds: Histogram::noop(),
            value_bytes: Histogram::noop(),
        }
    }
}

impl SiteMetrics {
    pub(super) fn register(policy: &'static str, function: &'static str) -> Self {
        let labels = [("policy", policy), ("function", function)];
        Self {
            policy,
            function,
            errors: ErrorKind::ALL.map(|kind| {
                counter!("cache_errors_total", "policy" => policy, "function" => function, "kind" => kind.as_str())
            }),
            hit_seconds: histogram!("cache_hit_duration_seconds", &labels),
            miss_seconds: histogram!("cache_miss_duration_seconds", &labels),
            value_bytes: histogram!("cache_value_bytes", &labels),
        }
    }

    /// A counter named `name` with this site's labels.
    pub(super) fn counter(&self, name: &'static str) -> Counter {
        counter!(name, "policy" => self.policy, "function" => self.function)
    }
}

/// `cache_invalidations_total{result=done|queued|replayed|dropped}`.
#[derive(Debug)]
pub(crate) struct InvalidationMetrics {
    pub(crate) done: Counter,
    pub(crate) queued: Counter,
    pub(crate) replayed: Counter,
    pub(crate) dropped: Counter,
}

impl Default for InvalidationMetrics {
    fn default() -> Self {
        let result =
            |result: &'static str| counter!("cache_invalidations_total", "result" => result);
        Self {
            done: result("done"),
            queued: result("queued"),
            replayed: result("replayed"),
            dropped: result("dropped"),
        }
    }
}
