//! Configuration errors and defaults.

use super::*;
use crate::policy::Policy;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn build(pairs: &[(&str, &str)]) -> Result<Cache, ConfigError> {
    CacheBuilder::from_vars(vars(pairs))?.build().await
}

#[tokio::test]
async fn a_malformed_redis_url_names_the_variable() {
    for url in ["localhost:6379", "http://localhost", "redis://"] {
        let error = build(&[("REDIS_URL", url)]).await.unwrap_err();
        assert_eq!(error.setting(), "REDIS_URL", "{url}");
        assert!(error.to_string().starts_with("REDIS_URL: "), "{error}");
        assert!(error.to_string().contains("expected redis://"), "{error}");
    }
}

#[tokio::test]
async fn passwords_never_appear_in_errors() {
    let error = build(&[("REDIS_URL", "http://user:hunter2@host")])
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert!(error.to_string().contains("user:***@host"), "{error}");
}

#[tokio::test]
async fn a_url_with_no_server_behind_it_is_not_an_error() {
    // Port 9 (discard) on loopback: nothing listens there in this project's test setups.
    let cache = build(&[
        ("REDIS_URL", "redis://127.0.0.1:9"),
        ("CACHE_CONNECT_TIMEOUT_MS", "100"),
    ])
    .await
    .unwrap();
    assert_eq!(cache.stats().backend, "redis");
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn a_tls_url_with_no_server_behind_it_is_not_an_error() {
    let cache = build(&[
        ("REDIS_URL", "rediss://127.0.0.1:9"),
        ("CACHE_CONNECT_TIMEOUT_MS", "100"),
    ])
    .await
    .unwrap();
    assert_eq!(cache.stats().backend, "redis");
}

#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn a_tls_url_without_the_tls_feature_says_so() {
    let error = build(&[("REDIS_URL", "rediss://127.0.0.1:9")])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("`tls` feature"), "{error}");
}

#[tokio::test]
async fn bad_numbers_and_booleans_name_their_variable() {
    for (name, value) in [
        ("CACHE_ENABLED", "maybe"),
        ("CACHE_OPERATION_TIMEOUT_MS", "0"),
        ("CACHE_TTL_AI_ANALYSIS", "ten"),
        ("CACHE_MAX_VALUE_BYTES", "-1"),
    ] {
        let error = CacheBuilder::from_vars(vars(&[(name, value)])).unwrap_err();
        assert_eq!(error.setting(), name);
    }
    let error = build(&[("CACHE_PREFIX", "a:b")]).await.unwrap_err();
    assert_eq!(error.setting(), "CACHE_PREFIX");
}

#[tokio::test]
async fn cluster_nodes_are_urls_or_host_port_and_win_over_redis_url() {
    // Nothing listens there: the cache is built (calls run uncached until the cluster answers).
    let cache = build(&[
        ("REDIS_URL", "redis://127.0.0.1:1"),
        ("REDIS_CLUSTER_NODES", "redis://127.0.0.1:1, 127.0.0.1:2,"),
        ("CACHE_CONNECT_TIMEOUT_MS", "50"),
    ])
    .await
    .unwrap();
    assert_eq!(cache.stats().backend, "redis");
    assert_eq!(
        build(&[("REDIS_CLUSTER_NODES", " , ")])
            .await
            .unwrap()
            .stats()
            .backend,
        "memory"
    );
    for (nodes, says) in [
        ("http://127.0.0.1:7000", "is not a cluster node's URL"),
        (
            "redis+unix:///tmp/redis.sock",
            "is not a cluster node's URL",
        ),
        (
            "redis://:secret@127.0.0.1:7000,redis://:other@127.0.0.1:7001",
            "different password",
        ),
        ("redis://127.0.0.1:notaport", "not a valid Redis URL"),
    ] {
        let error = build(&[("REDIS_CLUSTER_NODES", nodes)]).await.unwrap_err();
        assert_eq!(error.setting(), "REDIS_CLUSTER_NODES");
        assert!(error.to_string().contains(says), "{nodes}: {error}");
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}

#[tokio::test]
async fn unset_or_empty_url_uses_the_in_process_store_and_disabled_bypasses() {
    assert_eq!(build(&[]).await.unwrap().stats().backend, "memory");
    assert_eq!(
        build(&[("REDIS_URL", " ")]).await.unwrap().stats().backend,
        "memory"
    );
    let disabled = build(&[("CACHE_ENABLED", "false")]).await.unwrap();
    assert_eq!(disabled.stats().backend, "disabled");
}

#[test]
fn ttl_overrides_come_from_the_environment() {
    let builder = CacheBuilder::from_vars(vars(&[("CACHE_TTL_AI_ANALYSIS", "600")])).unwrap();
    assert_eq!(
        builder.overrides.ttl(&crate::policy::Policy::AiAnalysis),
        Duration::from_secs(600)
    );
}

#[test]
fn non_utf8_variables_are_ignored_unless_they_are_ours() {
    use std::os::unix::ffi::OsStringExt;
    let bad = || std::ffi::OsString::from_vec(b"caf\xe9".to_vec());
    let builder = CacheBuilder::from_vars_os([
        (std::ffi::OsString::from("OTHER"), bad()),
        (bad(), bad()),
        ("CACHE_PREFIX".into(), "billing".into()),
    ])
    .unwrap();
    assert_eq!(builder.prefix.value, "billing");
    let error = CacheBuilder::from_vars_os([("REDIS_URL".into(), bad())]).unwrap_err();
    assert_eq!(error.setting(), "REDIS_URL");
    assert!(error.to_string().contains("not valid UTF-8"), "{error}");
}

#[test]
fn ttl_overrides_are_bounded_by_what_redis_accepts() {
    let max = crate::store::MAX_TTL.as_secs().to_string();
    assert!(CacheBuilder::from_vars(vars(&[("CACHE_TTL_NEWS_DATA", &max)])).is_ok());
    let over = (crate::store::MAX_TTL.as_secs() + 1).to_string();
    let error = CacheBuilder::from_vars(vars(&[("CACHE_TTL_NEWS_DATA", &over)])).unwrap_err();
    assert_eq!(error.setting(), "CACHE_TTL_NEWS_DATA");
}

#[test]
fn durations_take_units_and_bare_numbers_keep_each_variables_unit() {
    let builder = CacheBuilder::from_vars(vars(&[
        ("CACHE_TTL_AI_ANALYSIS", "1h30m"),
        ("CACHE_TTL_NEWS_DATA", "600"),
        ("CACHE_OPERATION_TIMEOUT_MS", "100"),
        ("CACHE_WRITE_TIMEOUT_MS", "1s"),
        ("CACHE_BREAKER_COOL_DOWN_MS", "2s"),
        ("CACHE_LOCAL_TTL_MS", "250ms"),
        ("REDIS_CONNECTION_TIMEOUT", "5"),
        ("REDIS_HEALTH_CHECK_INTERVAL", "30s"),
    ]))
    .unwrap();
    let ttl = |policy| builder.overrides.ttl(&policy);
    assert_eq!(ttl(Policy::AiAnalysis), Duration::from_secs(5400));
    assert_eq!(ttl(Policy::NewsData), Duration::from_secs(600));
    assert_eq!(builder.operation_timeout, Duration::from_millis(100));
    assert_eq!(builder.write_timeout, Duration::from_secs(1));
    assert_eq!(builder.breaker_cool_down, Duration::from_secs(2));
    assert_eq!(builder.local_ttl, Some(Duration::from_millis(250)));
    assert_eq!(builder.connect_timeout.value, Duration::from_secs(5));
    assert_eq!(builder.health_check_interval, Some(Duration::from_secs(30)));
    let builder = CacheBuilder::from_vars(vars(&[("CACHE_CONNECT_TIMEOUT_MS", "750")])).unwrap();
    assert_eq!(builder.connect_timeout.value, Duration::from_millis(750));
}

#[test]
fn every_variable_names_itself_when_malformed() {
    for (name, value) in [
        ("CACHE_ENABLED", "maybe"),
        ("CACHE_OPERATION_TIMEOUT_MS", "0"),
        ("CACHE_WRITE_TIMEOUT_MS", "soon"),
        ("CACHE_CONNECT_TIMEOUT_MS", "-1"),
        ("CACHE_BREAKER_THRESHOLD", "0"),
        ("CACHE_BREAKER_COOL_DOWN_MS", "2 fortnights"),
        ("CACHE_MAX_VALUE_BYTES", "-1"),
        ("CACHE_MEMORY_MAX_BYTES", "64MB"),
        ("CACHE_MAX_KEY_BYTES", "lots"),
        ("CACHE_LOCAL_TTL_MS", "0s"),
        ("CACHE_TTL_AI_ANALYSIS", "ten"),
        ("CACHE_TTL_COIN_DATA", "5 minutes ago"),
        ("REDIS_CONNECTION_TIMEOUT", "5 sec later"),
        ("REDIS_HEALTH_CHECK_INTERVAL", "0"),
        ("REDIS_MAX_CONNECTIONS", "twenty"),
    ] {
        let error = CacheBuilder::from_vars(vars(&[(name, value)])).unwrap_err();
        assert_eq!(error.setting(), name, "{error}");
        assert!(error.to_string().contains(&format!("`{value}`")), "{error}");
    }
}

#[test]
fn pool_settings_are_refused_with_what_to_do_instead() {
    assert!(CacheBuilder::from_vars(vars(&[("REDIS_MAX_CONNECTIONS", "1")])).is_ok());
    for (name, value, advice) in [
        ("REDIS_MAX_CONNECTIONS", "20", "one multiplexed connection"),
        ("REDIS_MIN_IDLE", "5", "no pool of idle connections"),
        (
            "REDIS_MAX_LIFETIME",
            "300",
            "does not recycle its connection",
        ),
        ("REDIS_IDLE_TIMEOUT", "60", "REDIS_HEALTH_CHECK_INTERVAL"),
    ] {
        let error = CacheBuilder::from_vars(vars(&[(name, value)])).unwrap_err();
        assert_eq!(error.setting(), name);
        assert!(error.to_string().contains(advice), "{error}");
        assert!(
            error.to_string().contains(&format!("unset {name}")),
            "{error}"
        );
    }
}

#[test]
fn two_names_for_the_connect_deadline_must_agree() {
    let error = CacheBuilder::from_vars(vars(&[
        ("CACHE_CONNECT_TIMEOUT_MS", "500"),
        ("REDIS_CONNECTION_TIMEOUT", "5"),
    ]))
    .unwrap_err();
    assert_eq!(error.setting(), "REDIS_CONNECTION_TIMEOUT");
    assert!(
        error.to_string().contains("CACHE_CONNECT_TIMEOUT_MS"),
        "{error}"
    );
    assert!(CacheBuilder::from_vars(vars(&[
        ("CACHE_CONNECT_TIMEOUT_MS", "5000"),
        ("REDIS_CONNECTION_TIMEOUT", "5s"),
    ]))
    .is_ok());
}

#[test]
fn unknown_cache_and_redis_variables_are_warned_about_by_name() {
    use std::sync::{Arc, Mutex};
    let logged = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&logged);
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || Writer(Arc::clone(&sink)))
        .finish();
    let builder = tracing::subscriber::with_default(subscriber, || {
        CacheBuilder::from_vars(vars(&[
            ("CACHE_PREFX", "billing"),
            ("REDIS_HOST", "localhost"),
            ("HOME", "/root"),
            ("CACHE_PREFIX", "ok"),
        ]))
    })
    .unwrap();
    assert_eq!(builder.prefix.value, "ok");
    let logged = String::from_utf8(logged.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("WARN"), "{logged}");
    assert!(
        logged.contains("CACHE_PREFX is not a setting of cache-runtime and is ignored; the closest one is CACHE_PREFIX"),
        "{logged}"
    );
    assert!(logged.contains("REDIS_HOST is not a setting"), "{logged}");
    assert!(!logged.contains("HOME"), "{logged}");

    struct Writer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Writer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

#[tokio::test]
async fn tls_files_need_a_tls_url() {
    for (name, url) in [
        ("CACHE_TLS_CA_FILE", None),
        ("CACHE_TLS_CA_FILE", Some("redis://127.0.0.1:9")),
        ("CACHE_TLS_CERT_FILE", Some("redis://127.0.0.1:9")),
    ] {
        let mut pairs = vec![(name, "/nonexistent/ca.pem")];
        pairs.extend(url.map(|url| ("REDIS_URL", url)));
        let error = build(&pairs).await.unwrap_err();
        assert_eq!(error.setting(), name, "{error}");
        assert!(error.to_string().contains("rediss://"), "{error}");
    }
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn unreadable_or_non_certificate_tls_files_name_their_variable() {
    let dir = std::env::temp_dir().join(format!("cache-runtime-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let junk = junk.to_str().unwrap();
    let url = ("REDIS_URL", "rediss://127.0.0.1:9");
    for (pairs, variable, text) in [
        (
            vec![("CACHE_TLS_CA_FILE", "/nonexistent/ca.pem")],
            "CACHE_TLS_CA_FILE",
            "cannot read",
        ),
        (
            vec![("CACHE_TLS_CA_FILE", junk)],
            "CACHE_TLS_CA_FILE",
            "no PEM certificate",
        ),
        (
            vec![("CACHE_TLS_CERT_FILE", junk)],
            "CACHE_TLS_CERT_FILE",
            "set CACHE_TLS_KEY_FILE too",
        ),
        (
            vec![("CACHE_TLS_CERT_FILE", junk), ("CACHE_TLS_KEY_FILE", junk)],
            "CACHE_TLS_CERT_FILE",
            "no PEM certificate",
        ),
    ] {
        let mut pairs = pairs;
        pairs.push(url);
        let error = build(&pairs).await.unwrap_err();
        assert_eq!(error.setting(), variable, "{error}");
        assert!(error.to_string().contains(text), "{error}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn codec_settings_come_from_the_environment_and_bad_ones_name_their_variable() {
    let builder = CacheBuilder::from_vars(vars(&[("CACHE_CODEC", "JSON")])).unwrap();
    assert_eq!(builder.codec, crate::codec::Codec::Json);
    let builder = CacheBuilder::from_vars(vars(&[("CACHE_COMPRESS_ABOVE", "")])).unwrap();
    assert!(builder.compress_above.is_none());
    for (name, value) in [
        ("CACHE_CODEC", "yaml"),
        ("CACHE_COMPRESS_ABOVE", "4kb"),
        ("CACHE_COMPRESS_ABOVE", "-1"),
    ] {
        let error = CacheBuilder::from_vars(vars(&[(name, value)])).unwrap_err();
        assert_eq!(error.setting(), name, "{error}");
    }
}

#[cfg(not(feature = "msgpack"))]
#[test]
fn message_pack_without_its_feature_says_so() {
    let error = CacheBuilder::from_vars(vars(&[("CACHE_CODEC", "msgpack")])).unwrap_err();
    assert_eq!(error.setting(), "CACHE_CODEC");
    assert!(error.to_string().contains("`msgpack` feature"), "{error}");
}

#[cfg(not(feature = "compress"))]
#[tokio::test]
async fn compression_without_its_feature_says_so() {
    let error = build(&[("CACHE_COMPRESS_ABOVE", "4096")])
        .await
        .unwrap_err();
    assert_eq!(error.setting(), "CACHE_COMPRESS_ABOVE");
    assert!(error.to_string().contains("`compress` feature"), "{error}");
    let error = CacheBuilder::new()
        .compress_above(1)
        .build()
        .await
        .unwrap_err();
    assert_eq!(error.setting(), "CacheBuilder::compress_above");
}
