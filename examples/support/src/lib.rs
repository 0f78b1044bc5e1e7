//! What the seed examples (`hedera`, `kessan`, `crypto_updater`) share: upstream providers
//! simulated in-process ([`provider`]), errors as JSON ([`error`]), the start of a service
//! ([`start`], [`finish`]) and the shutdown signal.

pub mod error;
pub mod provider;

use std::net::SocketAddr;
use std::process::ExitCode;

use cache_runtime::Cache;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// What a service needs to serve: its settings, the cache from the environment, the listener.
pub struct Started<C> {
    /// The service's own settings.
    pub config: C,
    /// The cache built from `REDIS_URL` and the `CACHE_*` variables.
    pub cache: Cache,
    /// Bound to the settings' address.
    pub listener: TcpListener,
}

/// Starts the service `name`: logs to stderr (`RUST_LOG`, default `info`), reads its settings
/// with `settings`, builds the cache from the environment (`REDIS_URL` unset: the in-process
/// store) and listens on `bind_addr` of the settings. A bad setting is exit code 2 with a
/// message naming it; an address it cannot listen on, exit code 1.
pub async fn start<C>(
    name: &str,
    settings: impl FnOnce() -> Result<C, String>,
    bind_addr: impl FnOnce(&C) -> SocketAddr,
) -> Result<Started<C>, ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = settings().map_err(|error| {
        eprintln!("{name}: invalid setting: {error}");
        ExitCode::from(2)
    })?;
    let cache = cache_runtime::init_from_env().await.map_err(|error| {
        eprintln!("{name}: invalid cache setting: {error}");
        ExitCode::from(2)
    })?;
    let addr = bind_addr(&config);
    let listener = TcpListener::bind(addr).await.map_err(|error| {
        eprintln!("{name}: cannot listen on {addr} (BIND_ADDR): {error}");
        ExitCode::FAILURE
    })?;
    tracing::info!(%addr, backend = cache.stats().backend, "{name} listening");
    Ok(Started {
        config,
        cache,
        listener,
    })
}

/// The exit code of a service whose server stopped with `served`.
pub fn finish(name: &str, served: std::io::Result<()>) -> ExitCode {
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: server error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
