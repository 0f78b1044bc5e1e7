//! The dashboard service: `cargo run -p dashboard`, then
//! `curl -H 'X-Tenant-Id: acme' 127.0.0.1:8080/api/v1/dashboard/kpis`.
//!
//! Settings come from the environment: `BIND_ADDR`, `SOURCE_DELAY_MS` (see `dashboard::config`),
//! `REDIS_URL` and the other `CACHE_*` variables of `cache_runtime`, `RUST_LOG` (default `info`).
//! A malformed setting stops the service with exit code 2 and a message naming the variable.

use std::process::ExitCode;
use std::sync::Arc;

use dashboard::config::ServiceConfig;
use dashboard::source::Source;
use dashboard::{router, AppState};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let config = match ServiceConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("dashboard: invalid setting: {error}");
            return ExitCode::from(2);
        }
    };
    // Before the cache: metric handles are registered with the recorder installed when the
    // cache and its call sites first use them.
    let prometheus = match dashboard::prometheus::install() {
        Ok(prometheus) => prometheus,
        Err(error) => {
            eprintln!("dashboard: cannot install the metrics recorder: {error}");
            return ExitCode::FAILURE;
        }
    };
    let cache = match cache_runtime::init_from_env().await {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("dashboard: invalid cache setting: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind_addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "dashboard: cannot listen on {} (BIND_ADDR): {error}",
                config.bind_addr
            );
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        addr = %config.bind_addr,
        backend = cache.stats().backend,
        source_delay_ms = config.source_delay.as_millis() as u64,
        "dashboard listening"
    );

    let state = AppState::new(cache, Arc::new(Source::new(config.source_delay)))
        .with_prometheus(prometheus);
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    match served {
        Ok(()) => {
            tracing::info!("dashboard stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("dashboard: server error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one (how service managers stop a process).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
