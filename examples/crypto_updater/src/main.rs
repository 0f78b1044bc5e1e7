//! `cargo run -p crypto_updater`, then `curl 127.0.0.1:8080/api/cache-stats`.
//!
//! Settings: `BIND_ADDR`, `PREWARM_INTERVAL_SECS`, `PREWARM_TOP`, `PROVIDER_DELAY_MS`,
//! `PROVIDER_FAILURE_RATE` (see `crypto_updater::config`), `REDIS_URL` (unset: the in-process
//! store), `CACHE_TTL_COIN_DATA`, `CACHE_TTL_TOKENOMICS` and the other `CACHE_*`.

use std::process::ExitCode;
use std::sync::Arc;

use crypto_updater::coins::CoinProvider;
use crypto_updater::config::ServiceConfig;
use crypto_updater::provider::Provider;
use crypto_updater::update::spawn_prewarm;
use crypto_updater::{router, shutdown_signal, AppState};
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
            eprintln!("crypto_updater: invalid setting: {error}");
            return ExitCode::from(2);
        }
    };
    let cache = match cache_runtime::init_from_env().await {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("crypto_updater: invalid cache setting: {error}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.bind_addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "crypto_updater: cannot listen on {} (BIND_ADDR): {error}",
                config.bind_addr
            );
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(addr = %config.bind_addr, backend = cache.stats().backend, "crypto_updater listening");
    let (delay, rate) = (config.provider_delay, config.provider_failure_rate);
    let provider = CoinProvider {
        coins: Provider::new("coingecko", delay, rate),
        rankings: Provider::new("coingecko-rankings", delay, rate),
    };
    let state = AppState::new(cache, Arc::new(provider));
    let prewarm = config
        .prewarm_interval
        .map(|every| spawn_prewarm(state.clone(), every, config.prewarm_top));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await;
    if let Some(prewarm) = prewarm {
        prewarm.task.abort();
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("crypto_updater: server error: {error}");
            ExitCode::FAILURE
        }
    }
}
