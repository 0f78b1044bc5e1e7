//! Single flight: concurrent callers of one cold key share one execution of the function.
//!
//! The first caller leads: it runs the function and publishes the outcome. The others follow:
//! they wait for the outcome instead of running the function. A leader that is cancelled
//! publishes nothing and its followers elect a new leader among themselves; a leader whose
//! function panics publishes the panic, and every follower panics with it.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

/// What a leader's execution produced, as its followers see it.
pub(crate) enum Outcome {
    /// A cacheable value, encoded: followers decode their own copy.
    Value(Bytes),
    /// A result that is not cached (an `Err`, a `None`): a clone of it when the return type is
    /// `Clone`, otherwise nothing and each follower runs the function itself.
    Uncached(Option<Arc<dyn Any + Send + Sync>>),
    /// The function panicked.
    Panicked,
}

type Slot = watch::Receiver<Option<Arc<Outcome>>>;

#[derive(Default)]
pub(crate) struct Flights {
    in_flight: Mutex<HashMap<String, Slot>>,
}

pub(crate) enum Role<'a> {
    Leader(Leader<'a>),
    Follower(Follower),
}

impl Flights {
    /// Leads the flight for `key`, or follows the one already under way.
    pub(crate) fn join(&self, key: &str) -> Role<'_> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(slot) = in_flight.get(key) {
            return Role::Follower(Follower { slot: slot.clone() });
        }
        let (sender, slot) = watch::channel(None);
        in_flight.insert(key.to_owned(), slot);
        Role::Leader(Leader {
            flights: self,
            key: key.to_owned(),
            sender: Some(sender),
        })
    }

    fn finish(&self, key: &str) {
        self.in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }
}

/// The caller that runs the function. Dropping it without [`Leader::publish`] abandons the
/// flight (or reports a panic, when dropped while unwinding).
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: String,
    sender: Option<watch::Sender<Option<Arc<Outcome>>>>,
}

impl Leader<'_> {
    /// Whether another caller is waiting for this flight's outcome.
    pub(crate) fn has_followers(&self) -> bool {
        // The registry holds one receiver; each follower holds a clone of it.
        self.sender
            .as_ref()
            .is_some_and(|sender| sender.receiver_count() > 1)
    }

    pub(crate) fn publish(mut self, outcome: Outcome) {
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(Arc::new(outcome)));
        }
        self.flights.finish(&self.key);
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            if std::thread::panicking() {
                sender.send_replace(Some(Arc::new(Outcome::Panicked)));
            }
            self.flights.finish(&self.key);
        }
    }
}

/// A caller waiting for a leader.
pub(crate) struct Follower {
    slot: Slot,
}

impl Follower {
    /// The leader's outcome, or `None` if the leader was cancelled.
    pub(crate) async fn outcome(mut self) -> Option<Arc<Outcome>> {
        match self.slot.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        }
    }
}

tokio::task_local! {
    /// The keys the current task is computing as a leader, innermost first.
    static COMPUTING: Arc<Computing>;
}

struct Computing {
    key: String,
    outer: Option<Arc<Computing>>,
}

/// Whether the current task is already computing `key`: joining its flight would wait for
/// itself (a function calling itself with the same key, or another function of the same key).
pub(crate) fn is_computing(key: &str) -> bool {
    COMPUTING
        .try_with(|computing| {
            let mut next = Some(computing);
            while let Some(computing) = next {
                if computing.key == key {
                    return true;
                }
                next = computing.outer.as_ref();
            }
            false
        })
        .unwrap_or(false)
}

/// Runs `body`, the computation of `key`, with `key` marked as computed by this task.
pub(crate) async fn computing<F: Future>(key: &str, body: F) -> F::Output {
    let outer = COMPUTING.try_with(Arc::clone).ok();
    let computing = Arc::new(Computing {
        key: key.to_owned(),
        outer,
    });
    COMPUTING.scope(computing, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_receive_the_leaders_outcome() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!("first caller leads")
        };
        let Role::Follower(follower) = flights.join("k") else {
            panic!("second caller follows")
        };
        leader.publish(Outcome::Value(Bytes::from_static(b"1")));
        match follower.outcome().await.as_deref() {
            Some(Outcome::Value(bytes)) => assert_eq!(&bytes[..], b"1"),
            _ => panic!("expected the value"),
        }
        assert!(
            matches!(flights.join("k"), Role::Leader(_)),
            "flight is over"
        );
    }

    #[test]
    fn a_leader_knows_whether_anyone_waits() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k") else {
            panic!("first caller leads")
        };
        assert!(!leader.has_followers());
        let follower = flights.join("k");
        assert!(leader.has_followers());
        drop(follower);
        assert!(!leader.has_followers());
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let flights = Flights::default();
        let leader = flights.join("k");
        let Role::Follower(follower) = flights.join("k") else {
            panic!("second caller follows")
        };
        drop(leader);
        assert!(follower.outcome().await.is_none());
    }
}
