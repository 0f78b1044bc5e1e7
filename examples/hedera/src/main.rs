//! `cargo run -p hedera`, then `curl 127.0.0.1:8080/api/v1/rates/eur`.
//!
//! Settings: `BIND_ADDR`, `RATE_LIMIT_PER_MINUTE`, `PROVIDER_DELAY_MS`, `*_FAILURE_RATE` (see
//! `hedera::config`), `REDIS_URL` (unset: the in-process store) and the other `CACHE_*`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use example_support::Started;
use hedera::config::ServiceConfig;
use hedera::{router, shutdown_signal, AppState, Providers};

#[tokio::main]
async fn main() -> ExitCode {
    let Started {
        config,
        cache,
        listener,
    } = match example_support::start("hedera", ServiceConfig::from_env, |c| c.bind_addr).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let state = AppState::new(cache, Arc::new(Providers::from_config(&config)));
    let app = router(state, config.rate_limit_per_minute);
    // `ConnectInfo` gives the rate limit the client's address when no proxy sets X-Forwarded-For.
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    example_support::finish("hedera", served)
}
