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
use example_support::Started;

#[tokio::main]
async fn main() -> ExitCode {
    let Started {
        config,
        cache,
        listener,
    } = match example_support::start("crypto_updater", ServiceConfig::from_env, |c| c.bind_addr)
        .await
    {
        Ok(started) => started,
        Err(code) => return code,
    };
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
    example_support::finish("crypto_updater", served)
}
