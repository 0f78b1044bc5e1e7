//! Redis older than 7.0 (issue 9, item 10): index maintenance needs `PEXPIRE … NX/GT`, so the
//! store reads the server's version (`INFO server`) on each new connection and refuses to cache
//! on a server older than 7.0: calls run the function, nothing is written, `stats().store` says
//! why, and caching starts once the server is upgraded.
//!
//! Only Redis 7 is installed where these tests run, so the old server is a real `redis-server`
//! seen through a proxy on loopback that rewrites the version in its `INFO` replies to 6.x (the
//! same length, so the reply stays well-formed), and that stops rewriting when the test
//! "upgrades" it. Everything else is the real server's. The version parser and the decision are
//! unit-tested in `cache-runtime` (`store::redis::server`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{cached, CacheBuilder};
use cache_tests::inspect::policy;
use cache_tests::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A proxy to `server` whose `INFO` replies say `redis_version:{old}` while `old_version` is set.
async fn proxy(
    server: &RedisServer,
    real: String,
    old: String,
    old_version: Arc<AtomicBool>,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let upstream = server.port();
    let (real, old) = (
        format!("redis_version:{real}").into_bytes(),
        format!("redis_version:{old}").into_bytes(),
    );
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let (mut from_client, to_client) = client.into_split();
            let (from_server, mut to_server) = server.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_server).await });
            let rewrite = (real.clone(), old.clone(), Arc::clone(&old_version));
            tokio::spawn(rewrite_replies(from_server, to_client, rewrite));
        }
    });
    url
}

/// Copies `from` to `to`, replacing `real` by `old` (same length) while the flag is set. Only a
/// tail that could be the start of `real` is held back until the next read.
async fn rewrite_replies(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    (real, old, rewriting): (Vec<u8>, Vec<u8>, Arc<AtomicBool>),
) -> std::io::Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            to.write_all(&pending).await?;
            return Ok(());
        }
        pending.extend_from_slice(&buffer[..read]);
        let mut held = 0;
        if rewriting.load(Ordering::SeqCst) {
            let mut at = 0;
            while let Some(found) = find(&pending[at..], &real) {
                let start = at + found;
                pending[start..start + real.len()].copy_from_slice(&old);
                at = start + real.len();
            }
            held = (1..real.len())
                .rev()
                .find(|&n| pending.ends_with(&real[..n]))
                .unwrap_or(0);
        }
        let send = pending.len() - held;
        to.write_all(&pending[..send]).await?;
        pending.drain(..send);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The server's `INFO commandstats` calls of `command`, as Redis counts them.
async fn calls(server: &RedisServer, command: &str) -> u64 {
    let mut redis = server.connection().await;
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut redis)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "quote:{id}", ttl = "10m", tags = ["id:{id}"])]
async fn quote(id: u32) -> Result<u32, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(id * 3)
}

#[tokio::test]
async fn a_redis_older_than_7_is_refused_and_an_upgrade_is_noticed() {
    let server = RedisServer::start();
    let mut redis = server.connection().await;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut redis)
        .await
        .unwrap();
    let real = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .expect("the server's version")
        .trim()
        .to_owned();
    // The same version with a 6 in front: as long, and older than 7.
    let old = format!("6{}", &real[1..]);
    let old_version = Arc::new(AtomicBool::new(true));
    let url = proxy(&server, real.clone(), old.clone(), Arc::clone(&old_version)).await;
    let cache = CacheBuilder::new()
        .redis_url(url)
        .breaker(3, Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    cache
        .scope(async {
            for _ in 0..5 {
                assert_eq!(quote(1).await, Ok(3));
            }
        })
        .await;
    assert_eq!(RUNS.load(Ordering::SeqCst), 5, "nothing is cached");
    let stats = cache.stats();
    assert_eq!(
        stats.store.redis_version.as_deref(),
        Some(old.as_str()),
        "{stats:?}"
    );
    let refused = stats.store.refused.clone().unwrap_or_default();
    assert!(
        refused.contains(&old) && refused.contains("7.0"),
        "{stats:?}"
    );
    // Redis counts a command after it ran: the INFO calls below do not count themselves.
    assert_eq!(
        calls(&server, "info").await,
        2,
        "the test's own INFO, and the runtime's once"
    );
    for command in ["set", "get", "evalsha", "eval", "sadd", "pexpire"] {
        assert_eq!(
            calls(&server, command).await,
            0,
            "a refused server is not sent {command}"
        );
    }

    // Upgraded in place: read again within a cool-down, then caching works.
    old_version.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while policy(&cache, "redis_version::quote").hits == 0 {
        assert_eq!(cache.scope(quote(1)).await, Ok(3));
        assert!(
            Instant::now() < deadline,
            "no hit within 10 s of the upgrade: {:?}\n{}",
            cache.stats(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = cache.stats();
    assert_eq!(stats.store.refused, None, "{stats:?}");
    assert_eq!(stats.store.redis_version.as_deref(), Some(real.as_str()));
}
