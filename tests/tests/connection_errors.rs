//! A connection the server refuses heals (issue 9, item 12): with a database number the
//! restarted server does not have (`SELECT` fails), or a password it now requires (`NOAUTH`),
//! calls return the function's result, the breaker opens, `stats().store.connection_problem`
//! says what is wrong, and caching resumes once the server is fixed, without a restart of the
//! process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{cached, BreakerState, Cache, CacheBuilder};
use cache_tests::inspect::policy;
use cache_tests::RedisServer;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "quote:{id}", ttl = "10m")]
async fn quote(id: u32) -> Result<u32, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(id * 7)
}

const LABEL: &str = "connection_errors::quote";

/// Calls `quote(id)` (checking its result) every 20 ms until `done` holds, for at most 15 s.
async fn call_until(
    cache: &Cache,
    server: &RedisServer,
    id: u32,
    what: &str,
    done: impl Fn(&Cache) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert_eq!(cache.scope(quote(id)).await, Ok(id * 7));
        if done(cache) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not within 15 s: {what}; stats: {:?}\n{}",
            cache.stats(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn problem(cache: &Cache) -> String {
    cache.stats().store.connection_problem.unwrap_or_default()
}

async fn refused_then_fixed(
    mut server: RedisServer,
    url: String,
    id: u32,
    refusing: &[&str],
    fixed: &[&str],
    expected_problem: &str,
) {
    let cache = CacheBuilder::new()
        .redis_url(url)
        .breaker(3, Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    assert_eq!(cache.scope(quote(id)).await, Ok(id * 7));
    assert_eq!(cache.scope(quote(id)).await, Ok(id * 7));
    assert_eq!(policy(&cache, LABEL).hits, 1, "warm");

    server.restart_with(refusing);
    call_until(
        &cache,
        &server,
        id,
        "the breaker opens and says why",
        |cache| {
            cache.stats().breaker == BreakerState::Open && problem(cache).contains(expected_problem)
        },
    )
    .await;
    let hits = policy(&cache, LABEL).hits;
    for _ in 0..5 {
        assert_eq!(cache.scope(quote(id)).await, Ok(id * 7));
    }
    assert_eq!(policy(&cache, LABEL).hits, hits, "nothing is served");

    server.restart_with(fixed);
    let hits = policy(&cache, LABEL).hits;
    call_until(&cache, &server, id, "caching resumes", |cache| {
        policy(cache, LABEL).hits > hits
    })
    .await;
    assert_eq!(cache.stats().breaker, BreakerState::Closed);
    assert_eq!(cache.stats().store.connection_problem, None);
}

#[tokio::test]
async fn a_database_the_server_lacks_opens_the_breaker_and_heals_when_it_is_back() {
    let server = RedisServer::start_with(&["--databases", "32"]);
    let url = format!("{}/20", server.url());
    refused_then_fixed(
        server,
        url,
        1,
        &["--databases", "16"],
        &["--databases", "32"],
        "database 20 does not exist",
    )
    .await;
}

#[tokio::test]
async fn a_password_the_url_lacks_opens_the_breaker_and_heals_when_it_is_dropped() {
    let server = RedisServer::start();
    let url = server.url();
    refused_then_fixed(
        server,
        url,
        2,
        &["--requirepass", "secret"],
        &[],
        "authentication failed",
    )
    .await;
}
