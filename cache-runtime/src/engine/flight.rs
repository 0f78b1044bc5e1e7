//! Single flight: concurrent callers of one cold key share one execution of the function.
//!
//! The first caller leads: it runs the function and publishes the outcome. The others follow:
//! they wait for the outcome instead of running the function. A leader that is cancelled
//! publishes nothing and its followers elect a new leader among themselves; a leader whose
//! function panics publishes the panic, and every follower panics with it.
//!
//! A caller that found a miss may reach the registry only after the flight of its key has
//! finished (a busy machine can delay it between its read and its join): it would lead a second
//! flight and run the function again. So the registry remembers, for a few hundred hashed keys,
//! when a flight of theirs last published a value, and a caller notes the count of published
//! values before its lookup ([`Flights::mark`]): a leader that comes after a value was
//! published for its key ([`Leader::came_late`]) reads the store again before running the
//! function.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// How many keys the registry remembers a published value of (by hash; a newer one of the
/// same slot replaces an older one, which only costs that caller the optimisation).
const RECENT: usize = 512;

pub(crate) struct Flights {
    registry: Mutex<Registry>,
    /// How many values flights have published so far.
    published: AtomicU64,
    hasher: RandomState,
}

struct Registry {
    in_flight: HashMap<String, Slot>,
    /// Per slot: the hash of the key whose flight last published a value there, and the
    /// `published` count it made.
    recent: Vec<(u64, u64)>,
}

impl Default for Flights {
    fn default() -> Self {
        Self {
            registry: Mutex::new(Registry {
                in_flight: HashMap::new(),
                recent: vec![(0, 0); RECENT],
            }),
            published: AtomicU64::new(0),
            hasher: RandomState::new(),
        }
    }
}

pub(crate) enum Role<'a> {
    Leader(Leader<'a>),
    Follower(Follower),
}

impl Flights {
    /// The count of values published so far: taken before a lookup, given to [`Flights::join`].
    pub(crate) fn mark(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Leads the flight for `key`, or follows the one already under way; `mark` is
    /// [`Flights::mark`] from before the caller's lookup.
    pub(crate) fn join(&self, key: &str, mark: u64) -> Role<'_> {
        let hash = self.hasher.hash_one(key);
        let mut registry = self.registry();
        if let Some(slot) = registry.in_flight.get(key) {
            return Role::Follower(Follower { slot: slot.clone() });
        }
        let (last_hash, published) = registry.recent[hash as usize % RECENT];
        let late = last_hash == hash && published > mark;
        let (sender, slot) = watch::channel(None);
        registry.in_flight.insert(key.to_owned(), slot);
        Role::Leader(Leader {
            flights: self,
            key: key.to_owned(),
            hash,
            late,
            sender: Some(sender),
        })
    }

    /// Ends the flight of `key`; `value`: it published a value.
    fn finish(&self, key: &str, hash: u64, value: bool) {
        let mut registry = self.registry();
        registry.in_flight.remove(key);
        if value {
            let published = self.published.fetch_add(1, Ordering::AcqRel) + 1;
            registry.recent[hash as usize % RECENT] = (hash, published);
        }
    }
}

/// The caller that runs the function. Dropping it without [`Leader::publish`] abandons the
/// flight (or reports a panic, when dropped while unwinding).
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: String,
    hash: u64,
    late: bool,
    sender: Option<watch::Sender<Option<Arc<Outcome>>>>,
}

impl Leader<'_> {
    /// Whether a flight of this key published a value after this caller's mark: the store
    /// probably holds it now.
    pub(crate) fn came_late(&self) -> bool {
        self.late
    }

    /// Whether another caller is waiting for this flight's outcome.
    pub(crate) fn has_followers(&self) -> bool {
        // The registry holds one receiver; each follower holds a clone of it.
        self.sender
            .as_ref()
            .is_some_and(|sender| sender.receiver_count() > 1)
    }

    pub(crate) fn publish(mut self, outcome: Outcome) {
        let value = matches!(outcome, Outcome::Value(_));
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(Arc::new(outcome)));
        }
        self.flights.finish(&self.key, self.hash, value);
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            if std::thread::panicking() {
                sender.send_replace(Some(Arc::new(Outcome::Panicked)));
            }
            self.flights.finish(&self.key, self.hash, false);
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
        let Role::Leader(leader) = flights.join("k", 0) else {
            panic!("first caller leads")
        };
        let Role::Follower(follower) = flights.join("k", 0) else {
            panic!("second caller follows")
        };
        leader.publish(Outcome::Value(Bytes::from_static(b"1")));
        match follower.outcome().await.as_deref() {
            Some(Outcome::Value(bytes)) => assert_eq!(&bytes[..], b"1"),
            _ => panic!("expected the value"),
        }
        assert!(
            matches!(flights.join("k", 0), Role::Leader(_)),
            "flight is over"
        );
    }

    #[test]
    fn a_leader_knows_whether_anyone_waits() {
        let flights = Flights::default();
        let Role::Leader(leader) = flights.join("k", 0) else {
            panic!("first caller leads")
        };
        assert!(!leader.has_followers());
        let follower = flights.join("k", 0);
        assert!(leader.has_followers());
        drop(follower);
        assert!(!leader.has_followers());
    }

    #[test]
    fn a_leader_after_a_published_value_of_its_key_came_late() {
        let flights = Flights::default();
        let early = flights.mark();
        let Role::Leader(leader) = flights.join("k", early) else {
            panic!("first caller leads")
        };
        assert!(!leader.came_late());
        leader.publish(Outcome::Value(Bytes::from_static(b"1")));
        // A caller whose lookup began before that value was published.
        let Role::Leader(late) = flights.join("k", early) else {
            panic!("the flight is over")
        };
        assert!(late.came_late());
        drop(late);
        // One whose lookup began after it, and a caller of another key, did not.
        let Role::Leader(after) = flights.join("k", flights.mark()) else {
            panic!("the flight is over")
        };
        assert!(!after.came_late());
        let Role::Leader(other) = flights.join("other", early) else {
            panic!("first caller leads")
        };
        assert!(!other.came_late());
        // Only a published value counts: an abandoned flight publishes nothing.
        let mark = flights.mark();
        drop(other);
        assert_eq!(flights.mark(), mark);
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let flights = Flights::default();
        let leader = flights.join("k", 0);
        let Role::Follower(follower) = flights.join("k", 0) else {
            panic!("second caller follows")
        };
        drop(leader);
        assert!(follower.outcome().await.is_none());
    }
}
