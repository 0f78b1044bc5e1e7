//! `cargo run -p kessan`, then `curl -H "X-User-Id: u1" 127.0.0.1:8080/api/v1/tickers/7203/price`.
//!
//! Settings: `BIND_ADDR`, `API_QUOTA_PER_DAY`, `PROVIDER_DELAY_MS`, `PROVIDER_FAILURE_RATE` (see
//! `kessan::config`), `REDIS_URL` (unset: the in-process store) and the other `CACHE_*`.

use std::process::ExitCode;
use std::sync::Arc;

use kessan::config::ServiceConfig;
use kessan::{router, shutdown_signal, AppState, Market};
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
            eprintln!("kessan: invalid setting: {error}");
            return ExitCode::from(2);
        }
    };
    let cache = match cache_runtime::init_from_env().await {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("kessan: invalid cache setting: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind_addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "kessan: cannot listen on {} (BIND_ADDR): {error}",
                config.bind_addr
            );
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %config.bind_addr, backend = cache.stats().backend, "kessan listening");
    let state = AppState::new(
        cache,
        Arc::new(Market::from_config(&config)),
        config.api_quota_per_day,
    );
    let app = router(state);

    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kessan: server error: {error}");
            ExitCode::FAILURE
        }
    }
}
