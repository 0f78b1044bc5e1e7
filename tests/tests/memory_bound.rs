//! `CACHE_MEMORY_MAX_BYTES` bounds memory (issue 9, item 13): the in-process store (and the
//! local tier) weighs what an entry really holds (key, bytes, the decoded copy, index
//! memberships, per-entry overhead), so the process's resident memory stays within 1.5× the
//! bound plus a fixed base for small and large values alike, and one value larger than the bound
//! is never kept.
//!
//! Resident memory is measured in a child process of this test binary (one scenario per child,
//! so that no other test allocates beside it): `/proc/self/statm` after a warm-up and after
//! filling the store far past its bound.

use std::process::Command;
use std::time::Duration;

use cache_runtime::{cached, Cache, CacheBuilder};
use cache_tests::inspect::{policy, until_listening};
use cache_tests::RedisServer;

#[cached(key = "text:{id}:{size}", ttl = "10m")]
async fn text(id: u64, size: usize) -> String {
    let mut text = format!("{id:016}");
    text.extend(std::iter::repeat_n('x', size.saturating_sub(16)));
    text
}

#[cached(key = "blob:{id}:{size}", ttl = "10m")]
async fn blob(id: u64, size: usize) -> String {
    "b".repeat(size + id as usize % 2)
}

// The store's own accounting ------------------------------------------------------------------

async fn fill_and_check(cache: &Cache, max: u64, size: usize, count: u64) {
    cache
        .scope(async {
            for id in 0..count {
                assert_eq!(text(id, size).await.len(), size.max(16));
            }
        })
        .await;
    let stats = cache.stats().store;
    assert_eq!(stats.memory_max_bytes, max, "{stats:?}");
    assert!(
        stats.memory_bytes <= max,
        "the store accounts {} bytes against a bound of {max}: {stats:?}",
        stats.memory_bytes
    );
    // What it holds is at least the keys, the JSON and the decoded copy of each entry.
    let honest = stats.memory_entries * (2 * size as u64 + 20);
    assert!(
        stats.memory_bytes >= honest,
        "{} entries of {size}-byte values cannot weigh only {} bytes: {stats:?}",
        stats.memory_entries,
        stats.memory_bytes
    );
}

#[tokio::test]
async fn the_in_process_store_accounts_for_what_its_entries_hold() {
    let max = 1 << 20;
    for size in [16, 1024] {
        let cache = CacheBuilder::new()
            .memory_max_bytes(max)
            .build()
            .await
            .unwrap();
        fill_and_check(&cache, max, size, 20_000).await;
    }
}

#[tokio::test]
async fn the_local_tier_accounts_for_what_its_copies_hold() {
    let server = RedisServer::start();
    let max = 1 << 20;
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .local_tier(Duration::from_secs(60))
        .memory_max_bytes(max)
        .build()
        .await
        .unwrap();
    until_listening(&[&cache]).await;
    fill_and_check(&cache, max, 1024, 5_000).await;
}

#[tokio::test]
async fn a_value_larger_than_the_bound_is_never_kept() {
    let max = 1 << 20;
    let cache = CacheBuilder::new()
        .memory_max_bytes(max)
        .max_value_bytes(4 << 20)
        .build()
        .await
        .unwrap();
    cache
        .scope(async {
            for _ in 0..2 {
                assert_eq!(blob(0, 2 << 20).await.len(), 2 << 20);
            }
        })
        .await;
    let stats = policy(&cache, "memory_bound::blob");
    assert_eq!((stats.hits, stats.misses), (0, 2), "{stats:?}");
    let store = cache.stats().store;
    assert_eq!(store.too_large_for_memory, 2, "{store:?}");
    assert_eq!(store.memory_entries, 0, "{store:?}");
}

// Resident memory, in a child process ---------------------------------------------------------

/// Resident bytes of this process.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Runs [`rss_child`] with `value_bytes`-byte values and returns the growth of resident memory
/// it reports, and the bound.
fn growth_in_child(value_bytes: usize, count: u64) -> (u64, u64) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "rss_child", "--nocapture"])
        .env("RSS_VALUE_BYTES", value_bytes.to_string())
        .env("RSS_COUNT", count.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout
        .lines()
        .find_map(|line| line.strip_prefix("rss: "))
        .unwrap_or_else(|| panic!("no report:\n{stdout}"));
    let mut numbers = report.split(' ').map(|n| n.parse::<u64>().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

/// Not a test of its own: the child process of [`growth_in_child`].
#[test]
#[ignore = "run by the resident-memory tests, in a child process"]
fn rss_child() {
    let size: usize = std::env::var("RSS_VALUE_BYTES").unwrap().parse().unwrap();
    let count: u64 = std::env::var("RSS_COUNT").unwrap().parse().unwrap();
    let max: u64 = 10_000_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cache = CacheBuilder::new()
            .memory_max_bytes(max)
            .build()
            .await
            .unwrap();
        // Warm-up: the runtime, the cache and the allocator's first arenas.
        cache
            .scope(async {
                for id in 0..1_000 {
                    text(u64::MAX - id, size).await;
                }
            })
            .await;
        let before = resident();
        cache
            .scope(async {
                for id in 0..count {
                    text(id, size).await;
                }
            })
            .await;
        let after = resident();
        println!("accounting: {:?}", cache.stats().store);
        println!("rss: {} {max}", after.saturating_sub(before));
    });
}

fn assert_within_bound(value_bytes: usize, count: u64) {
    let (growth, max) = growth_in_child(value_bytes, count);
    // 1.5× the bound, plus a fixed allowance for the allocator's and moka's own structures.
    let allowed = max * 3 / 2 + (8 << 20);
    assert!(
        growth <= allowed,
        "{count} values of {value_bytes} bytes grew resident memory by {} MB against a bound of {} MB (allowed {} MB)",
        growth / 1_000_000,
        max / 1_000_000,
        allowed / 1_000_000
    );
}

#[test]
fn resident_memory_stays_within_the_bound_for_small_values() {
    assert_within_bound(16, 150_000);
}

#[test]
fn resident_memory_stays_within_the_bound_for_large_values() {
    assert_within_bound(1024, 20_000);
}
