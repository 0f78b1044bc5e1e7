//! `cargo run -p kessan`, then `curl -H "X-User-Id: u1" 127.0.0.1:8080/api/v1/tickers/7203/price`.
//!
//! Settings: `BIND_ADDR`, `API_QUOTA_PER_DAY`, `PROVIDER_DELAY_MS`, `PROVIDER_FAILURE_RATE` (see
//! `kessan::config`), `REDIS_URL` (unset: the in-process store) and the other `CACHE_*`.

use std::process::ExitCode;
use std::sync::Arc;

use example_support::Started;
use kessan::config::ServiceConfig;
use kessan::{router, shutdown_signal, AppState, Market};

#[tokio::main]
async fn main() -> ExitCode {
    let Started {
        config,
        cache,
        listener,
    } = match example_support::start("kessan", ServiceConfig::from_env, |c| c.bind_addr).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let state = AppState::new(
        cache,
        Arc::new(Market::from_config(&config)),
        config.api_quota_per_day,
    );
    let app = router(state);

    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    example_support::finish("kessan", served)
}
