//! TLS to a real TLS-only `redis-server` (`--port 0 --tls-port N`) and to a real TLS-only Redis
//! Cluster (six nodes, TLS on the cluster bus and replication too), with a CA, server and client
//! certificates made by `openssl` at test time: hits through `rediss://` with the CA from
//! `CACHE_TLS_CA_FILE`, mutual TLS with `CACHE_TLS_CERT_FILE`/`CACHE_TLS_KEY_FILE`, a file that
//! is no certificate refused at start-up, and a CA that did not sign the server's certificate
//! falling back silently at run time like any connection failure. Each behaviour test runs on
//! both (`server::…`, `cluster::…`): TLS works the same way on a cluster.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_runtime::{cached, Cache, CacheBuilder};
use cache_tests::inspect::{entry_value, runs, total_errors, total_hits};
use cache_tests::tls::TlsFiles;
use cache_tests::{ClusterOptions, RedisCluster, RedisServer};

fn vars(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect()
}

fn path(p: std::path::PathBuf) -> String {
    p.display().to_string()
}

/// Where a test caches through TLS: one TLS-only server, or a TLS-only cluster.
enum Secure {
    Server(RedisServer),
    Cluster(RedisCluster),
}

#[derive(Clone, Copy)]
enum Kind {
    Server,
    Cluster,
}

impl Secure {
    /// Starts one, with the server certificate of `files`; with `mutual`, demanding a client
    /// certificate signed by their CA.
    fn start(kind: Kind, files: &TlsFiles, mutual: bool) -> Self {
        match kind {
            Kind::Server => Secure::Server(RedisServer::start_tls(files, mutual)),
            Kind::Cluster => Secure::Cluster(RedisCluster::start_with(ClusterOptions {
                tls: Some(files),
                mutual_tls: mutual,
                ..ClusterOptions::default()
            })),
        }
    }

    /// The setting that points a cache at it: `REDIS_URL`, or `REDIS_CLUSTER_NODES`.
    fn target(&self) -> (&'static str, String) {
        let (name, urls) = match self {
            Secure::Server(server) => ("REDIS_URL", vec![server.url()]),
            Secure::Cluster(cluster) => ("REDIS_CLUSTER_NODES", cluster.urls()),
        };
        assert!(
            urls.iter().all(|url| url.starts_with("rediss://")),
            "{urls:?}"
        );
        (name, urls.join(","))
    }

    fn log(&self) -> String {
        match self {
            Secure::Server(server) => server.log(),
            Secure::Cluster(cluster) => cluster.log(),
        }
    }

    /// A cache from the target and `pairs` as the environment gives them, with a breaker that
    /// never opens in these tests: every call goes to Redis.
    async fn cache(&self, pairs: &[(&str, String)]) -> Cache {
        let mut pairs = pairs.to_vec();
        pairs.push(self.target());
        CacheBuilder::from_vars(vars(&pairs))
            .map(|builder| builder.breaker(1_000, Duration::from_secs(60)))
            .unwrap_or_else(|e| panic!("settings: {e}"))
            .build()
            .await
            .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", self.log()))
    }

    /// The value of the entry at `key`, read independently of the cache's client: `redis-cli`
    /// over TLS on a server, the fixture's own TLS connection on a cluster.
    async fn stored(&self, files: &TlsFiles, key: &str) -> Option<Vec<u8>> {
        match self {
            Secure::Server(server) => {
                entry_value(redis_cli(server, files, &["GET", key]).trim().as_bytes())
            }
            Secure::Cluster(cluster) => {
                let raw: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut cluster.connection().await)
                    .await
                    .unwrap_or_else(|e| panic!("GET {key}: {e}\n{}", cluster.log()));
                entry_value(&raw?)
            }
        }
    }

    /// Every key Redis holds.
    async fn keys(&self, files: &TlsFiles) -> Vec<String> {
        match self {
            Secure::Server(server) => redis_cli(server, files, &["--scan"])
                .lines()
                .map(str::to_owned)
                .collect(),
            Secure::Cluster(cluster) => cluster.keys().await,
        }
    }
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

/// Registers each `async fn name(kind: Kind)` as `server::name` and `cluster::name`; the two
/// take turns, since they share the test's statics.
macro_rules! on_server_and_cluster {
    ($($test:ident),+) => {
        mod server {
            $(#[tokio::test]
            async fn $test() {
                let _turn = cache_tests::backend::turn(stringify!($test)).await;
                super::$test(super::Kind::Server).await
            })+
        }
        mod cluster {
            $(#[tokio::test]
            async fn $test() {
                let _turn = cache_tests::backend::turn(stringify!($test)).await;
                super::$test(super::Kind::Cluster).await
            })+
        }
    };
}

on_server_and_cluster!(
    caches_through_tls_with_the_configured_ca,
    mutual_tls_with_a_client_certificate,
    a_ca_that_did_not_sign_the_server_falls_back_silently
);

static SQUARES: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "tls_square:{n}", ttl = "1h")]
async fn tls_square(n: u64) -> u64 {
    SQUARES.fetch_add(1, Ordering::SeqCst);
    n * n
}

async fn caches_through_tls_with_the_configured_ca(kind: Kind) {
    SQUARES.store(0, Ordering::SeqCst);
    let files = TlsFiles::generate();
    let secure = Secure::start(kind, &files, false);
    let cache = secure
        .cache(&[("CACHE_TLS_CA_FILE", path(files.ca()))])
        .await;
    assert_eq!(cache.scope(tls_square(12)).await, 144);
    assert_eq!(cache.scope(tls_square(12)).await, 144);
    assert_eq!(
        runs(&SQUARES),
        1,
        "the second call is a hit through TLS: {:?}\n{}",
        cache.stats(),
        secure.log()
    );
    assert_eq!(total_hits(&cache), 1);
    assert_eq!(total_errors(&cache), 0, "{:?}", cache.stats());
    let key = cache
        .scope(async { tls_square_cache(12).key() })
        .await
        .expect("a key");
    assert_eq!(
        secure.stored(&files, &key).await.as_deref(),
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

async fn mutual_tls_with_a_client_certificate(kind: Kind) {
    MUTUAL.store(0, Ordering::SeqCst);
    let files = TlsFiles::generate();
    let secure = Secure::start(kind, &files, true);
    let cache = secure
        .cache(&[
            ("CACHE_TLS_CA_FILE", path(files.ca())),
            ("CACHE_TLS_CERT_FILE", path(files.client_cert())),
            ("CACHE_TLS_KEY_FILE", path(files.client_key())),
        ])
        .await;
    assert_eq!(cache.scope(tls_mutual(1)).await, 2);
    assert_eq!(cache.scope(tls_mutual(1)).await, 2);
    assert_eq!(
        runs(&MUTUAL),
        1,
        "the second call is a hit through mutual TLS: {:?}\n{}",
        cache.health().await,
        secure.log()
    );
    assert_eq!(total_hits(&cache), 1);
    let key = cache
        .scope(async { tls_mutual_cache(1).key() })
        .await
        .expect("a key");
    assert_eq!(
        secure.stored(&files, &key).await.as_deref(),
        Some(&b"2"[..])
    );

    // Without a client certificate the server refuses the handshake: the calls run uncached.
    let anonymous = secure
        .cache(&[("CACHE_TLS_CA_FILE", path(files.ca()))])
        .await;
    assert_eq!(anonymous.scope(tls_mutual(1)).await, 2);
    assert_eq!(runs(&MUTUAL), 2, "no client certificate: no hit");
    assert_eq!(total_hits(&anonymous), 0);
    assert!(total_errors(&anonymous) > 0, "{:?}", anonymous.stats());
    assert!(!anonymous.health().await.reachable);
}

static STRANGER: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "tls_stranger:{n}", ttl = "1h")]
async fn tls_stranger(n: u64) -> u64 {
    STRANGER.fetch_add(1, Ordering::SeqCst);
    n * 3
}

async fn a_ca_that_did_not_sign_the_server_falls_back_silently(kind: Kind) {
    STRANGER.store(0, Ordering::SeqCst);
    let files = TlsFiles::generate();
    let secure = Secure::start(kind, &files, false);
    // A valid certificate, but not the server's issuer: not a start-up error.
    let cache = secure
        .cache(&[("CACHE_TLS_CA_FILE", path(files.other_ca()))])
        .await;
    assert_eq!(cache.scope(tls_stranger(5)).await, 15);
    assert_eq!(cache.scope(tls_stranger(5)).await, 15);
    assert_eq!(runs(&STRANGER), 2, "every call runs the function");
    assert_eq!(total_hits(&cache), 0);
    assert!(total_errors(&cache) > 0, "{:?}", cache.stats());
    let keys = secure.keys(&files).await;
    assert!(keys.is_empty(), "nothing was stored: {keys:?}");
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
