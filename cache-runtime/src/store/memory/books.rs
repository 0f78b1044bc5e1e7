//! Which keys exist (ordered, for prefix deletes) and which index sets hold them. Index names
//! are interned: the thousands of entries of one function share one copy of its set's name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A key's live write: its sequence number and the index sets it joined.
struct Live {
    sequence: u64,
    sets: Box<[Arc<str>]>,
}

#[derive(Default)]
pub(super) struct Books {
    keys: BTreeMap<Arc<str>, Live>,
    sets: HashMap<Arc<str>, HashSet<Arc<str>>>,
}

impl Books {
    /// `key` was written with `sequence`, joining `indexes` (and leaving the sets of its
    /// previous write).
    pub(super) fn written(&mut self, key: &Arc<str>, sequence: u64, indexes: Vec<String>) {
        if let Some(previous) = self.keys.remove(key) {
            self.leave(key, &previous.sets);
        }
        let sets = indexes
            .into_iter()
            .map(|name| self.join(name, key))
            .collect();
        self.keys.insert(Arc::clone(key), Live { sequence, sets });
    }

    fn join(&mut self, name: String, key: &Arc<str>) -> Arc<str> {
        let interned = match self.sets.get_key_value(name.as_str()) {
            Some((interned, _)) => Arc::clone(interned),
            None => Arc::from(name),
        };
        self.sets
            .entry(Arc::clone(&interned))
            .or_default()
            .insert(Arc::clone(key));
        interned
    }

    fn leave(&mut self, key: &Arc<str>, sets: &[Arc<str>]) {
        for set in sets {
            if let Some(members) = self.sets.get_mut(set) {
                members.remove(key);
                if members.is_empty() {
                    self.sets.remove(set);
                }
            }
        }
    }

    /// The write `sequence` of `key` left the store; a newer write of it stays in the books.
    pub(super) fn removed(&mut self, key: &Arc<str>, sequence: u64) {
        if self.keys.get(key).map(|live| live.sequence) != Some(sequence) {
            return;
        }
        if let Some(live) = self.keys.remove(key) {
            self.leave(key, &live.sets);
        }
    }

    /// Takes the index set `set` out of the books: its members, to delete.
    pub(super) fn take_set(&mut self, set: &str) -> HashSet<Arc<str>> {
        self.sets.remove(set).unwrap_or_default()
    }

    /// Every key that starts with `prefix`.
    pub(super) fn keys_under(&self, prefix: &str) -> Vec<Arc<str>> {
        self.keys
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(|(key, _)| key)
            .take_while(|key| key.starts_with(prefix))
            .cloned()
            .collect()
    }
}
