//! `REDIS_URL` and `REDIS_CLUSTER_NODES`: checked and turned into a client, with passwords kept
//! out of every message.

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

/// The cluster client for `nodes` (`redis://host:port`, `rediss://…` or bare `host:port`), with
/// the CA and client certificate of `tls` when the nodes use TLS. Credentials and TLS come from
/// the nodes' URLs, which must agree on them.
pub(super) fn cluster_client(
    nodes: &Setting<Vec<String>>,
    tls: &TlsFiles,
    connect_timeout: std::time::Duration,
) -> Result<(redis::cluster::ClusterClient, Vec<redis::Client>), ConfigError> {
    let expected = "expected a comma-separated list of redis://[user:password@]host:port, rediss://… (TLS) or host:port";
    if nodes.value.is_empty() {
        return Err(ConfigError::new(
            nodes.origin,
            format!("names no node: {expected}"),
        ));
    }
    let mut urls = Vec::with_capacity(nodes.value.len());
    let mut clients = Vec::with_capacity(nodes.value.len());
    for node in &nodes.value {
        let node = node.trim();
        let url = if node.contains("://") {
            node.to_owned()
        } else {
            format!("redis://{node}")
        };
        let shown = redact(&url);
        let scheme = url.split("://").next().unwrap_or_default();
        if !matches!(scheme, "redis" | "rediss" | "valkey" | "valkeys") {
            return Err(ConfigError::new(
                nodes.origin,
                format!("`{shown}` is not a cluster node's URL: {expected}"),
            ));
        }
        // Checks the form (host, port, credentials) the way REDIS_URL is checked; the client of
        // each node is where the local tier subscribes.
        clients.push(redis_client(
            &Setting {
                value: url.clone(),
                origin: nodes.origin,
            },
            tls,
        )?);
        urls.push(url);
    }
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let mut builder = redis::cluster::ClusterClientBuilder::new(urls.iter().map(String::as_str))
        .connection_timeout(connect_timeout)
        // A redirection (`MOVED`, `ASK`) or a node that is failing over is retried by the client
        // a few times, quickly: every operation has its own deadline in the store, and a call
        // that misses it runs uncached.
        .retries(3)
        .min_retry_wait(2)
        .max_retry_wait(50);
    // The CA and client certificate apply to every node (checked above to use TLS).
    #[cfg(feature = "tls")]
    if tls.first_set().is_some() {
        builder = builder.certs(tls.certificates()?);
    }
    let client = builder.build().map_err(|error| {
        ConfigError::new(
            nodes.origin,
            format!("the nodes do not make one cluster client: {error}"),
        )
    })?;
    Ok((client, clients))
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
