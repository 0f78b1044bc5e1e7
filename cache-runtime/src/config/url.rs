//! `REDIS_URL`: checked and turned into a client, with passwords kept out of every message.

use super::error::{ConfigError, Setting};
use super::tls::TlsFiles;

/// The client for `url`, with the CA and client certificate of `tls` for a `rediss://` URL.
pub(super) fn redis_client(
    url: &Setting<String>,
    tls: &TlsFiles,
) -> Result<redis::Client, ConfigError> {
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
    let secure = matches!(scheme, "rediss" | "valkeys");
    if let (Some(variable), false) = (tls.first_set(), secure) {
        return Err(ConfigError::new(
            variable,
            format!(
                "is set, but `{shown}` does not use TLS: use a rediss:// URL, or unset {variable}"
            ),
        ));
    }
    #[cfg(feature = "tls")]
    if secure {
        // rustls needs a process-wide crypto provider; keep the application's if it set one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if tls.first_set().is_some() {
            let certificates = tls.certificates()?;
            return redis::Client::build_with_tls(url.value.as_str(), certificates).map_err(
                |error| {
                    ConfigError::new(
                        url.origin,
                        format!("`{shown}` is not a valid Redis URL ({error}); {expected}"),
                    )
                },
            );
        }
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
