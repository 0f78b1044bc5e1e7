//! The in-process store's books, leases and bound.

use super::*;
use crate::store::Index;

fn write(key: &str, sets: &[&str]) -> Write {
    Write {
        key: key.to_owned(),
        value: Bytes::from_static(b"1"),
        ttl: Duration::from_secs(60),
        typed: None,
        index: Some(Index {
            sets: sets.iter().map(|s| (*s).to_owned()).collect(),
        }),
        basis: Default::default(),
    }
}

#[test]
fn an_index_delete_removes_its_members_only() {
    let store = MemoryStore::new(1 << 20);
    store.write(vec![
        write("a", &["s"]),
        write("b", &["s", "t"]),
        write("c", &["t"]),
    ]);
    assert_eq!(store.remove_index("s", None), 2);
    assert!(matches!(store.get_local("a"), Local::Miss));
    assert!(matches!(store.get_local("c"), Local::Hit(_)));
    assert_eq!(store.remove_index("s", None), 0, "the set is gone");
    assert_eq!(store.remove_index("t", None), 1, "b was already deleted");
}

#[test]
fn a_prefix_delete_removes_exactly_the_keys_under_it() {
    let store = MemoryStore::new(1 << 20);
    store.write(vec![
        write("v1:t=a:x", &[]),
        write("v1:t=a:y", &[]),
        write("v1:t=ab:x", &[]),
    ]);
    assert_eq!(store.remove_prefix("v1:t=a:"), 2);
    assert!(matches!(store.get_local("v1:t=ab:x"), Local::Hit(_)));
}

#[test]
fn a_rewritten_key_stays_in_the_books() {
    let store = MemoryStore::new(1 << 20);
    store.write(vec![write("k", &["s"])]);
    store.write(vec![write("k", &["s"])]);
    store.entries.run_pending_tasks();
    assert_eq!(store.remove_prefix("k"), 1);
}

#[test]
fn a_lease_excludes_until_its_holder_releases_it() {
    let store = MemoryStore::new(1 << 20);
    let lease = Duration::from_secs(10);
    assert!(store.lease("l", "one", lease));
    assert!(!store.lease("l", "two", lease));
    store.release("l", "two");
    assert!(!store.lease("l", "two", lease), "only the holder releases");
    store.release("l", "one");
    assert!(store.lease("l", "two", lease));
}

#[test]
fn a_lease_runs_out() {
    let store = MemoryStore::new(1 << 20);
    assert!(store.lease("l", "one", Duration::from_millis(1)));
    std::thread::sleep(Duration::from_millis(5));
    assert!(store.lease("l", "two", Duration::from_secs(10)));
}

#[test]
fn a_value_weighing_more_than_the_bound_is_not_kept_and_drops_the_older_one() {
    let store = MemoryStore::new(4096);
    store.write(vec![write("k", &["s"])]);
    assert!(matches!(store.get_local("k"), Local::Hit(_)));
    let mut big = write("k", &["s"]);
    big.value = Bytes::from(vec![b'x'; 4096]);
    store.write(vec![big]);
    assert!(matches!(store.get_local("k"), Local::Miss));
    let stats = store.memory_stats();
    assert_eq!((stats.memory_entries, stats.too_large_for_memory), (0, 1));
    assert_eq!(store.remove_index("s", None), 0, "the books forgot it too");
}

#[test]
fn the_weight_counts_key_bytes_decoded_copy_and_memberships() {
    let plain = weight::weigh(10, 100, false, 0);
    assert_eq!(
        weight::weigh(10, 100, true, 0),
        plain + 100 + weight::DECODED_OVERHEAD
    );
    assert_eq!(
        weight::weigh(10, 100, false, 3),
        plain + 3 * weight::MEMBERSHIP
    );
    assert_eq!(plain, 110 + weight::ENTRY_OVERHEAD);
}
