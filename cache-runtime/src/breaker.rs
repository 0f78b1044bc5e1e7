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
    #[cfg(feature = "metrics")]
    exported: BreakerGauge,
}

/// Leave to use the store for one call, and whether that call is the breaker's probe.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub(crate) struct Permit {
    probe: bool,
}

impl Permit {
    pub(crate) fn is_probe(self) -> bool {
        self.probe
    }
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
            #[cfg(feature = "metrics")]
            exported: BreakerGauge::register(),
        }
    }

    fn now(&self) -> u64 {
        // Never 0, so that 0 can mean "closed".
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// A permit to use the store now, if the breaker lets this call through: always while it is
    /// closed; in the half-open state only to one caller per `probe_window`, as the probe.
    pub(crate) fn allow(&self) -> Option<Permit> {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Some(Permit { probe: false });
        }
        let now = self.now();
        if now < until {
            return None;
        }
        let next = now + self.probe_window.as_millis() as u64;
        let probe = self
            .open_until
            .compare_exchange(until, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        #[cfg(feature = "metrics")]
        if probe {
            self.exported.half_opened();
        }
        probe.then_some(Permit { probe: true })
    }

    /// A call that used `permit` succeeded. Only the probe closes an open breaker: a call let
    /// through before it opened that answers late (a straggler) says nothing of now.
    pub(crate) fn record_success(&self, permit: Permit) -> Transition {
        let open = self.open_until.load(Ordering::Acquire) != 0;
        if open && !permit.probe {
            return Transition::None;
        }
        self.consecutive_failures.store(0, Ordering::Relaxed);
        if open && self.open_until.swap(0, Ordering::AcqRel) != 0 {
            #[cfg(feature = "metrics")]
            self.exported.closed();
            return Transition::Closed;
        }
        Transition::None
    }

    /// A call that used `permit` failed. A straggler's failure while the breaker is already
    /// open neither extends the cool-down nor counts towards the next opening.
    pub(crate) fn record_failure(&self, permit: Permit) -> Transition {
        let open = self.open_until.load(Ordering::Acquire) != 0;
        if open && !permit.probe {
            return Transition::None;
        }
        let failures = self.consecutive_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures < self.threshold && !permit.probe {
            return Transition::None;
        }
        let wait = if permit.probe && !self.retried.swap(true, Ordering::AcqRel) {
            PROBE_RETRY.min(self.cool_down)
        } else {
            self.cool_down
        };
        let was = self
            .open_until
            .swap(self.now() + wait.as_millis() as u64, Ordering::AcqRel);
        // A failed probe re-opens a half-open breaker: a transition for the gauge, not for
        // the store's logging.
        #[cfg(feature = "metrics")]
        self.exported.opened();
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

/// The breaker's state as a gauge (`0` closed, `1` open, `2` half-open) and its transitions.
#[cfg(feature = "metrics")]
#[derive(Debug)]
pub(crate) struct BreakerGauge {
    state: ::metrics::Gauge,
    opened: ::metrics::Counter,
    half_opened: ::metrics::Counter,
    closed: ::metrics::Counter,
}

#[cfg(feature = "metrics")]
impl BreakerGauge {
    pub(crate) fn register() -> Self {
        let transition =
            |to: &'static str| ::metrics::counter!("cache_breaker_transitions_total", "to" => to);
        let state = ::metrics::gauge!("cache_breaker_state");
        state.set(0.0);
        Self {
            state,
            opened: transition("open"),
            half_opened: transition("half_open"),
            closed: transition("closed"),
        }
    }

    pub(crate) fn opened(&self) {
        self.state.set(1.0);
        self.opened.increment(1);
    }

    pub(crate) fn half_opened(&self) {
        self.state.set(2.0);
        self.half_opened.increment(1);
    }

    pub(crate) fn closed(&self) {
        self.state.set(0.0);
        self.closed.increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permit(breaker: &Breaker) -> Permit {
        breaker.allow().expect("the breaker lets this call through")
    }

    #[test]
    fn opens_after_threshold_and_closes_after_a_successful_probe() {
        let breaker = Breaker::new(3, Duration::from_millis(30), Duration::from_millis(30));
        assert_eq!(breaker.record_failure(permit(&breaker)), Transition::None);
        assert_eq!(breaker.record_failure(permit(&breaker)), Transition::None);
        assert_eq!(breaker.record_failure(permit(&breaker)), Transition::Opened);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.allow().is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        let probe = breaker.allow().expect("one probe after the cool-down");
        assert!(probe.is_probe());
        assert!(breaker.allow().is_none(), "only one probe at a time");
        assert_eq!(breaker.record_success(probe), Transition::Closed);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(!permit(&breaker).is_probe());
    }

    #[test]
    fn a_failed_probe_is_retried_once_quickly_then_starts_another_cool_down() {
        let cool_down = Duration::from_millis(400);
        let breaker = Breaker::new(1, cool_down, Duration::from_millis(30));
        breaker.record_failure(permit(&breaker));
        std::thread::sleep(cool_down + Duration::from_millis(20));
        let probe = breaker.allow().expect("the first probe");
        breaker.record_failure(probe);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(breaker.allow().is_none());
        std::thread::sleep(PROBE_RETRY + Duration::from_millis(20));
        let probe = breaker
            .allow()
            .expect("a second probe soon after the first failed");
        breaker.record_failure(probe);
        std::thread::sleep(PROBE_RETRY + Duration::from_millis(20));
        assert!(breaker.allow().is_none(), "then a whole cool-down");
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let breaker = Breaker::new(2, Duration::from_secs(10), Duration::from_secs(1));
        breaker.record_failure(permit(&breaker));
        breaker.record_success(permit(&breaker));
        assert_eq!(breaker.record_failure(permit(&breaker)), Transition::None);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_slow_success_let_through_before_the_breaker_opened_does_not_close_it() {
        let breaker = Breaker::new(1, Duration::from_secs(10), Duration::from_secs(1));
        let straggler = permit(&breaker);
        assert_eq!(breaker.record_failure(permit(&breaker)), Transition::Opened);
        assert_eq!(breaker.record_success(straggler), Transition::None);
        assert_eq!(breaker.state(), BreakerState::Open);
    }

    #[test]
    fn a_probe_and_a_straggler_do_not_flap_the_breaker() {
        let cool_down = Duration::from_millis(30);
        let breaker = Breaker::new(1, cool_down, Duration::from_millis(30));
        let (straggler, late_failure) = (permit(&breaker), permit(&breaker));
        breaker.record_failure(permit(&breaker));
        std::thread::sleep(cool_down + Duration::from_millis(10));
        let probe = breaker.allow().expect("the probe");
        // The probe fails while a call from before the outage answers late: still open.
        breaker.record_failure(probe);
        assert_eq!(breaker.record_success(straggler), Transition::None);
        assert_eq!(breaker.state(), BreakerState::Open);
        // And a late failure does not push the next probe further away.
        let until = breaker.open_until.load(Ordering::Acquire);
        breaker.record_failure(late_failure);
        assert_eq!(breaker.open_until.load(Ordering::Acquire), until);
    }
}
