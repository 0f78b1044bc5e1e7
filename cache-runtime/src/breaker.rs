//! The outage breaker: after `threshold` consecutive failures the remote store is left alone for
//! a cool-down, so callers run their function at once instead of each waiting for a timeout.
//! When the cool-down ends one call at a time is let through as a probe; its success closes the
//! breaker, its failure starts another cool-down. A probe that never reports (its caller was
//! cancelled) does not wedge the breaker: another probe is allowed after `probe_window`.
//!
//! The first probe after an outage usually fails even when the server is back: the connection
//! layer only starts reconnecting when a request sees the broken connection. So the first failed
//! probe of an open period is followed by a second one after [`PROBE_RETRY`], not after a whole
//! cool-down; caching resumes about one cool-down after a restart instead of two.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What the breaker lets through right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakerState {
    /// The store is used normally.
    Closed,
    /// The store is skipped until the cool-down ends.
    Open,
    /// The cool-down is over; the next call probes the store.
    HalfOpen,
}

/// How soon a second probe follows the first failed one of an open period.
pub(crate) const PROBE_RETRY: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cool_down: Duration,
    probe_window: Duration,
    epoch: Instant,
    consecutive_failures: AtomicU32,
    /// Milliseconds since `epoch` until which calls are refused; 0 when closed.
    open_until: AtomicU64,
    /// Whether this open period already had its quick second probe.
    retried: AtomicBool,
}

/// What a failure did to the breaker, for logging.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    None,
    Opened,
    Closed,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cool_down: Duration, probe_window: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            probe_window,
            epoch: Instant::now(),
            consecutive_failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            retried: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        // Never 0, so that 0 can mean "closed".
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Whether a call may use the store now. In the half-open state only one caller per
    /// `probe_window` gets `true`.
    pub(crate) fn allow(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now();
        if now < until {
            return false;
        }
        let next = now + self.probe_window.as_millis() as u64;
        self.open_until
            .compare_exchange(until, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn record_success(&self) -> Transition {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        if self.open_until.load(Ordering::Acquire) != 0
            && self.open_until.swap(0, Ordering::AcqRel) != 0
        {
            return Transition::Closed;
        }
        Transition::None
    }

    pub(crate) fn record_failure(&self) -> Transition {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures < self.threshold {
            return Transition::None;
        }
        let probing = self.open_until.load(Ordering::Acquire) != 0;
        let wait = if probing && !self.retried.swap(true, Ordering::AcqRel) {
            PROBE_RETRY.min(self.cool_down)
        } else {
            self.cool_down
        };
        let was = self
            .open_until
            .swap(self.now() + wait.as_millis() as u64, Ordering::AcqRel);
        if was == 0 {
            self.retried.store(false, Ordering::Release);
            Transition::Opened
        } else {
            Transition::None
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.open_until.load(Ordering::Acquire) {
            0 => BreakerState::Closed,
            until if self.now() < until => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_closes_after_a_successful_probe() {
        let breaker = Breaker::new(3, Duration::from_millis(30), Duration::from_millis(30));
        assert_eq!(breaker.record_failure(), Transition::None);
        assert_eq!(breaker.record_failure(), Transition::None);
        assert!(breaker.allow());
        assert_eq!(breaker.record_failure(), Transition::Opened);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.allow(), "one probe after the cool-down");
        assert!(!breaker.allow(), "only one probe at a time");
        assert_eq!(breaker.record_success(), Transition::Closed);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow());
    }

    #[test]
    fn a_failed_probe_is_retried_once_quickly_then_starts_another_cool_down() {
        let cool_down = Duration::from_millis(400);
        let breaker = Breaker::new(1, cool_down, Duration::from_millis(30));
        breaker.record_failure();
        std::thread::sleep(cool_down + Duration::from_millis(20));
        assert!(breaker.allow(), "the first probe");
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow());
        std::thread::sleep(PROBE_RETRY + Duration::from_millis(20));
        assert!(
            breaker.allow(),
            "a second probe soon after the first failed"
        );
        breaker.record_failure();
        std::thread::sleep(PROBE_RETRY + Duration::from_millis(20));
        assert!(!breaker.allow(), "then a whole cool-down");
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let breaker = Breaker::new(2, Duration::from_secs(10), Duration::from_secs(1));
        breaker.record_failure();
        breaker.record_success();
        assert_eq!(breaker.record_failure(), Transition::None);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
