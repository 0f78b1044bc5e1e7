//! `REDIS_URL`: checked and turned into a client, with passwords kept out of every message.

use super::error::{ConfigError, Setting};

pub(super) fn redis_client(url: &Setting<String>) -> Result<redis::Client, ConfigError> {
    let shown = redact(&url.value);
    let expected = "expected redis://[user:password@]host[:port][/db], rediss://… (TLS) or redis+unix:///path/to/socket";
    let scheme = url.value.split("://").next().unwrap_or_default();
    if !url.value.contains("://")
        || !matches!(
            scheme,
            "redis" | "rediss" | "redis+unix" | "unix" | "valkey" | "valkeys"
        )
    {
        return Err(ConfigError::new(
            url.origin,
            format!("`{shown}` is not a Redis URL: {expected}"),
        ));
    }
    if matches!(scheme, "rediss" | "valkeys") && !cfg!(feature = "tls") {
        return Err(ConfigError::new(
            url.origin,
            format!("`{shown}` asks for TLS, but cache-runtime was built without its `tls` feature: enable it in Cargo.toml"),
        ));
    }
    #[cfg(feature = "tls")]
    if matches!(scheme, "rediss" | "valkeys") {
        // rustls needs a process-wide crypto provider; keep the application's if it set one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    redis::Client::open(url.value.as_str()).map_err(|error| {
        ConfigError::new(
            url.origin,
            format!("`{shown}` is not a valid Redis URL ({error}); {expected}"),
        )
    })
}

/// The URL with any password replaced, for messages and logs.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}
