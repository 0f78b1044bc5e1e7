//! Configuration errors and defaults.

use super::*;

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
        ("REDIS_CLUSTER_NODES", "127.0.0.1:7000,127.0.0.1:7001"),
    ] {
        let error = CacheBuilder::from_vars(vars(&[(name, value)])).unwrap_err();
        assert_eq!(error.setting(), name);
    }
    let error = build(&[("CACHE_PREFIX", "a:b")]).await.unwrap_err();
    assert_eq!(error.setting(), "CACHE_PREFIX");
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

#[tokio::test]
async fn codec_settings_come_from_the_environment_and_bad_ones_name_their_variable() {
    let builder = CacheBuilder::from_vars(vars(&[("CACHE_CODEC", "JSON")])).unwrap();
    assert_eq!(builder.codec, crate::Codec::Json);
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
