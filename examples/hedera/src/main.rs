//! `cargo run -p hedera`, then `curl 127.0.0.1:8080/api/v1/rates/eur`.
//!
//! Settings: `BIND_ADDR`, `RATE_LIMIT_PER_MINUTE`, `PROVIDER_DELAY_MS`, `*_FAILURE_RATE` (see
//! `hedera::config`), `REDIS_URL` (unset: the in-process store) and the other `CACHE_*`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use hedera::config::ServiceConfig;
use hedera::{router, shutdown_signal, AppState, Providers};
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
            eprintln!("hedera: invalid setting: {error}");
            return ExitCode::from(2);
        }
    };
    let cache = match cache_runtime::init_from_env().await {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("hedera: invalid cache setting: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind_addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "hedera: cannot listen on {} (BIND_ADDR): {error}",
                config.bind_addr
            );
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %config.bind_addr, backend = cache.stats().backend, "hedera listening");
    let state = AppState::new(cache, Arc::new(Providers::from_config(&config)));
    let app = router(state, config.rate_limit_per_minute);
    // `ConnectInfo` gives the rate limit the client's address when no proxy sets X-Forwarded-For.
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hedera: server error: {error}");
            ExitCode::FAILURE
        }
    }
}
