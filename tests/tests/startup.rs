//! Start-up never panics (issue 9, item 7): a non-UTF-8 environment variable, a TTL override
//! larger than any store accepts, and a Redis-backed cache built outside a tokio runtime are
//! each a clear start-up error (or ignored, when the variable is not ours).

use std::ffi::OsString;
use std::future::Future;
use std::os::unix::ffi::OsStringExt;
use std::pin::pin;
use std::process::Command;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use cache_runtime::{cached, CacheBuilder, ConfigError, TtlPolicy};
use cache_tests::inspect::policy;
use cache_tests::RedisServer;

// A non-UTF-8 environment -------------------------------------------------------------------

/// Runs [`report_from_env`] in a child process of this test binary, with `name=value` added to
/// its environment, and returns what it printed. A child, so that no test of this process sees
/// an environment changed under it.
fn from_env_in_child(name: &str, value: &[u8]) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "report_from_env", "--nocapture"])
        .env(name, OsString::from_vec(value.to_vec()))
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the child panicked or failed:\n{stdout}\n{stderr}"
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("from_env: "))
        .unwrap_or_else(|| panic!("no report from the child:\n{stdout}\n{stderr}"))
        .to_owned()
}

/// Not a test of its own: the child process of [`from_env_in_child`].
#[test]
#[ignore = "run by the tests of a non-UTF-8 environment, in a child process"]
fn report_from_env() {
    match CacheBuilder::from_env() {
        Ok(_) => println!("from_env: ok"),
        Err(error) => println!("from_env: error {}: {error}", error.setting()),
    }
}

#[test]
fn a_non_utf8_variable_that_is_not_ours_is_ignored() {
    assert_eq!(from_env_in_child("SOME_OTHER_TOOL", b"caf\xe9"), "ok");
}

#[test]
fn a_non_utf8_variable_of_ours_is_an_error_naming_it() {
    let report = from_env_in_child("CACHE_PREFIX", b"caf\xe9");
    assert!(
        report.starts_with("error CACHE_PREFIX: CACHE_PREFIX: "),
        "{report}"
    );
    assert!(report.contains("UTF-8"), "{report}");
    let report = from_env_in_child("CACHE_TTL_AI_ANALYSIS", b"\xff600");
    assert!(
        report.starts_with("error CACHE_TTL_AI_ANALYSIS: "),
        "{report}"
    );
}

// TTLs beyond what a store accepts ----------------------------------------------------------

#[derive(cache_runtime::TtlPolicy)]
enum Forever {
    #[ttl("1h")]
    Archive,
}

#[cached(key = "archive:{id}", ttl = Forever::Archive, stale_if_error = "1d")]
async fn archive(id: u32) -> Result<u32, String> {
    Ok(id + 1)
}

#[test]
fn a_ttl_override_beyond_what_redis_accepts_is_an_error_naming_it() {
    for seconds in [u64::MAX.to_string(), (u64::MAX / 1000).to_string()] {
        let error = CacheBuilder::from_vars([("CACHE_TTL_ARCHIVE".to_owned(), seconds.clone())])
            .unwrap_err();
        assert_eq!(error.setting(), "CACHE_TTL_ARCHIVE", "{error}");
        assert!(error.to_string().contains("at most"), "{error}");
    }
}

/// The longest TTL an override may set, per the error message of the configuration.
fn longest_ttl() -> Duration {
    let message = CacheBuilder::from_vars([("CACHE_TTL_ARCHIVE".to_owned(), u64::MAX.to_string())])
        .unwrap_err()
        .to_string();
    let seconds: u64 = message
        .split("at most ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no bound in `{message}`"));
    let ok = CacheBuilder::from_vars([("CACHE_TTL_ARCHIVE".to_owned(), seconds.to_string())]);
    assert!(ok.is_ok(), "the bound itself is accepted");
    Duration::from_secs(seconds)
}

#[tokio::test]
async fn the_longest_ttls_plus_a_stale_window_are_stored_without_overflow() {
    let server = RedisServer::start();
    let mut redis = server.connection().await;
    // The longest TTL the environment accepts, and through the builder one that no store
    // accepts (clamped): with the stale window added, neither overflows nor is refused by Redis.
    for (id, ttl) in [(1, longest_ttl()), (2, Duration::MAX)] {
        for on_redis in [true, false] {
            let builder = CacheBuilder::new().ttl(&Forever::Archive, ttl);
            let builder = if on_redis {
                builder.redis_url(server.url())
            } else {
                builder
            };
            let cache = builder.build().await.unwrap();
            cache
                .scope(async {
                    assert_eq!(archive(id).await, Ok(id + 1));
                    assert_eq!(archive(id).await, Ok(id + 1));
                })
                .await;
            let stats = policy(&cache, Forever::Archive.name());
            assert_eq!(
                (stats.hits, stats.errors),
                (1, 0),
                "ttl {ttl:?}, on Redis: {on_redis}: {stats:?}\n{}",
                server.log()
            );
        }
        let entry = CacheBuilder::new()
            .build()
            .await
            .unwrap()
            .scope(async { archive_cache(id).key() })
            .await
            .expect("a cache is in scope");
        for key in [entry.clone(), format!("{entry}#stale")] {
            let pttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap();
            assert!(pttl > 0, "{key} expires some day: PTTL {pttl}");
        }
    }
}

// Outside a tokio runtime -------------------------------------------------------------------

/// Polls `future` on this thread with a waker that does nothing: an executor that is not
/// tokio's. Fails if the future is not done within 5 s.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        assert!(Instant::now() < deadline, "the future never completed");
        std::thread::yield_now();
    }
}

fn build_outside_a_runtime(builder: CacheBuilder) -> Result<(), ConfigError> {
    let outcome = std::thread::spawn(move || block_on(builder.build()).map(drop)).join();
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("building the cache outside a tokio runtime panicked: {message}")
        }
    }
}

#[test]
fn building_a_redis_cache_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let url = "redis://127.0.0.1:9".to_owned();
    let plain = CacheBuilder::new().redis_url(&url);
    let tiered = CacheBuilder::new()
        .redis_url(&url)
        .local_tier(Duration::from_secs(5));
    for (builder, what) in [(plain, "Redis"), (tiered, "Redis with a local tier")] {
        let error = build_outside_a_runtime(builder).unwrap_err();
        assert_eq!(
            error.setting(),
            "CacheBuilder::redis_url",
            "{what}: {error}"
        );
        assert!(
            error.to_string().contains("tokio runtime"),
            "{what}: {error}"
        );
    }
    let in_process = CacheBuilder::new().local_tier(Duration::from_secs(5));
    assert_eq!(
        build_outside_a_runtime(in_process),
        Ok(()),
        "the in-process store needs no runtime"
    );
}
