//! TLS to a real TLS-only `redis-server` (`--port 0 --tls-port N`), with a CA, server and client
//! certificates made by `openssl` at test time: hits through `rediss://` with the CA from
//! `CACHE_TLS_CA_FILE`, mutual TLS with `CACHE_TLS_CERT_FILE`/`CACHE_TLS_KEY_FILE`, a file that
//! is no certificate refused at start-up, and a CA that did not sign the server's certificate
//! falling back silently at run time like any connection failure.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_runtime::{cached, Cache, CacheBuilder};
use cache_tests::inspect::{entry_value, runs, total_errors, total_hits};
use cache_tests::tls::TlsFiles;
use cache_tests::RedisServer;

fn vars(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn path(p: std::path::PathBuf) -> String {
    p.display().to_string()
}

async fn cache_from(pairs: &[(&str, String)], server: &RedisServer) -> Cache {
    CacheBuilder::from_vars(vars(pairs))
        .map(|builder| builder.breaker(1_000, Duration::from_secs(60)))
        .unwrap_or_else(|e| panic!("settings: {e}"))
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", server.log()))
}

/// `redis-cli` over TLS with the test CA (and the client certificate, which a server without
/// `tls-auth-clients` ignores): the server's own view, independent of the cache's client.
fn redis_cli(server: &RedisServer, files: &TlsFiles, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(files.ca())
        .arg("--cert")
        .arg(files.client_cert())
        .arg("--key")
        .arg(files.client_key())
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

static SQUARES: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "tls_square:{n}", ttl = "1h")]
async fn tls_square(n: u64) -> u64 {
    SQUARES.fetch_add(1, Ordering::SeqCst);
    n * n
}

#[tokio::test]
async fn caches_through_tls_with_the_configured_ca() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files, false);
    assert!(server.url().starts_with("rediss://"));
    let cache = cache_from(
        &[
            ("REDIS_URL", server.url()),
            ("CACHE_TLS_CA_FILE", path(files.ca())),
        ],
        &server,
    )
    .await;
    assert_eq!(cache.scope(tls_square(12)).await, 144);
    assert_eq!(cache.scope(tls_square(12)).await, 144);
    assert_eq!(runs(&SQUARES), 1, "the second call is a hit through TLS");
    assert_eq!(total_hits(&cache), 1);
    let key = cache
        .scope(async { tls_square_cache(12).key() })
        .await
        .expect("a key");
    assert_eq!(
        entry_value(redis_cli(&server, &files, &["GET", &key]).trim().as_bytes()).as_deref(),
        Some(&b"144"[..])
    );
    let health = cache.health().await;
    assert!(health.reachable, "{health:?}");
}

static MUTUAL: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "tls_mutual:{n}", ttl = "1h")]
async fn tls_mutual(n: u64) -> u64 {
    MUTUAL.fetch_add(1, Ordering::SeqCst);
    n + 1
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files, true);
    let cache = cache_from(
        &[
            ("REDIS_URL", server.url()),
            ("CACHE_TLS_CA_FILE", path(files.ca())),
            ("CACHE_TLS_CERT_FILE", path(files.client_cert())),
            ("CACHE_TLS_KEY_FILE", path(files.client_key())),
        ],
        &server,
    )
    .await;
    assert_eq!(cache.scope(tls_mutual(1)).await, 2);
    assert_eq!(cache.scope(tls_mutual(1)).await, 2);
    assert_eq!(
        runs(&MUTUAL),
        1,
        "the second call is a hit through mutual TLS: {:?}\n{}",
        cache.health().await,
        server.log()
    );
    let key = cache
        .scope(async { tls_mutual_cache(1).key() })
        .await
        .expect("a key");
    assert_eq!(
        entry_value(redis_cli(&server, &files, &["GET", &key]).trim().as_bytes()).as_deref(),
        Some(&b"2"[..])
    );

    // Without a client certificate the server refuses the handshake: the calls run uncached.
    let anonymous = cache_from(
        &[
            ("REDIS_URL", server.url()),
            ("CACHE_TLS_CA_FILE", path(files.ca())),
        ],
        &server,
    )
    .await;
    assert_eq!(anonymous.scope(tls_mutual(1)).await, 2);
    assert_eq!(runs(&MUTUAL), 2, "no client certificate: no hit");
    assert!(total_errors(&anonymous) > 0);
    assert!(!anonymous.health().await.reachable);
}

static STRANGER: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "tls_stranger:{n}", ttl = "1h")]
async fn tls_stranger(n: u64) -> u64 {
    STRANGER.fetch_add(1, Ordering::SeqCst);
    n * 3
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_server_falls_back_silently() {
    let files = TlsFiles::generate();
    let server = RedisServer::start_tls(&files, false);
    // A valid certificate, but not the server's issuer: not a start-up error.
    let cache = cache_from(
        &[
            ("REDIS_URL", server.url()),
            ("CACHE_TLS_CA_FILE", path(files.other_ca())),
        ],
        &server,
    )
    .await;
    assert_eq!(cache.scope(tls_stranger(5)).await, 15);
    assert_eq!(cache.scope(tls_stranger(5)).await, 15);
    assert_eq!(runs(&STRANGER), 2, "every call runs the function");
    assert_eq!(total_hits(&cache), 0);
    assert!(total_errors(&cache) > 0, "{:?}", cache.stats());
    let health = cache.health().await;
    assert!(!health.reachable, "{health:?}");
    assert!(health.error.is_some(), "{health:?}");
}

#[tokio::test]
async fn unusable_tls_files_are_start_up_errors() {
    let files = TlsFiles::generate();
    for (ca, text) in [
        (path(files.server_key()), "no PEM certificate"),
        (path(files.path("missing.crt")), "cannot read"),
    ] {
        let error = CacheBuilder::from_vars(vars(&[
            ("REDIS_URL", "rediss://127.0.0.1:9".to_owned()),
            ("CACHE_TLS_CA_FILE", ca),
        ]))
        .expect("well-formed settings")
        .build()
        .await
        .unwrap_err();
        assert_eq!(error.setting(), "CACHE_TLS_CA_FILE", "{error}");
        assert!(error.to_string().contains(text), "{error}");
    }
    // A client certificate with a key that is not its own.
    let error = CacheBuilder::from_vars(vars(&[
        ("REDIS_URL", "rediss://127.0.0.1:9".to_owned()),
        ("CACHE_TLS_CERT_FILE", path(files.client_cert())),
        ("CACHE_TLS_KEY_FILE", path(files.server_key())),
    ]))
    .expect("well-formed settings")
    .build()
    .await
    .unwrap_err();
    assert_eq!(error.setting(), "CACHE_TLS_CERT_FILE", "{error}");
    assert!(
        error
            .to_string()
            .contains("cannot be used as a client certificate"),
        "{error}"
    );
}
