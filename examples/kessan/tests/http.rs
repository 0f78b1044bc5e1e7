//! The service over HTTP against a `redis-server` each test starts.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use cache_runtime::CacheBuilder;
use cache_tests::RedisServer;
use http_body_util::BodyExt;
use kessan::config::ServiceConfig;
use kessan::{router, AppState, Market};
use serde_json::Value;
use tower::ServiceExt;

fn market() -> Arc<Market> {
    Arc::new(Market::from_config(&ServiceConfig {
        provider_delay: Duration::from_millis(5),
        ..ServiceConfig::default()
    }))
}

async fn app(server: &RedisServer, market: Arc<Market>, quota: u64) -> Router {
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .expect("a cache over the test's redis-server");
    router(AppState::new(cache, market, quota))
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    user: Option<&str>,
) -> (StatusCode, Response) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(user) = user {
        request = request.header("X-User-Id", user);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("a valid request"))
        .await
        .expect("the router is infallible");
    (response.status(), response)
}

async fn json_of(response: Response) -> Value {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("a JSON body")
}

#[tokio::test]
async fn invalidating_a_ticker_drops_every_entry_tagged_with_it() {
    let server = RedisServer::start();
    let market = market();
    let app = app(&server, Arc::clone(&market), 1000).await;
    let u = Some("u1");
    for uri in [
        "/api/v1/tickers/7203/price",
        "/api/v1/tickers/7203/news",
        "/api/v1/tickers/6758/price",
    ] {
        let (status, _) = send(&app, Method::GET, uri, u).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {}", server.log());
    }
    send(&app, Method::GET, "/api/v1/tickers/7203/price", u).await;
    assert_eq!(
        (market.prices.calls(), market.news.calls()),
        (2, 1),
        "hits after the first calls"
    );

    let (status, response) = send(&app, Method::POST, "/api/v1/tickers/7203/invalidate", u).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(response).await["ticker"], "7203");

    send(&app, Method::GET, "/api/v1/tickers/7203/price", u).await;
    send(&app, Method::GET, "/api/v1/tickers/7203/news", u).await;
    send(&app, Method::GET, "/api/v1/tickers/6758/price", u).await;
    assert_eq!(
        market.prices.calls(),
        3,
        "7203's price recomputed, 6758's still cached"
    );
    assert_eq!(market.news.calls(), 2, "7203's news recomputed");
}

#[tokio::test]
async fn a_batch_reads_cached_prices_and_computes_the_rest() {
    let server = RedisServer::start();
    let market = market();
    let app = app(&server, Arc::clone(&market), 1000).await;
    send(&app, Method::GET, "/api/v1/tickers/7203/price", Some("u1")).await;
    let (status, response) = send(
        &app,
        Method::GET,
        "/api/v1/quotes?tickers=7203,6758,9984",
        Some("u1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = json_of(response).await;
    assert_eq!(body["from_cache"], 1);
    let tickers: Vec<&str> = body["quotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["ticker"].as_str().unwrap())
        .collect();
    assert_eq!(tickers, ["7203", "6758", "9984"]);
    assert_eq!(market.prices.calls(), 3);
    let (_, again) = send(
        &app,
        Method::GET,
        "/api/v1/quotes?tickers=7203,6758,9984",
        Some("u1"),
    )
    .await;
    assert_eq!(json_of(again).await["from_cache"], 3);
}

#[tokio::test]
async fn past_the_daily_quota_a_user_gets_429() {
    let server = RedisServer::start();
    let app = app(&server, market(), 3).await;
    for n in 1..=3 {
        let (status, response) =
            send(&app, Method::GET, "/api/v1/tickers/7203/price", Some("u1")).await;
        assert_eq!(status, StatusCode::OK, "request {n}");
        assert_eq!(
            response.headers()["x-quota-remaining"],
            (3 - n).to_string().as_str()
        );
    }
    let (status, response) =
        send(&app, Method::GET, "/api/v1/tickers/7203/price", Some("u1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json_of(response).await["error"], "quota_exceeded");
    let (status, _) = send(&app, Method::GET, "/api/v1/tickers/7203/price", Some("u2")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another user has a quota of their own"
    );
    let (status, _) = send(&app, Method::GET, "/api/v1/tickers/7203/price", None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no user, no quota to count against"
    );
    // The count is Redis's, so a second instance on it refuses too.
    let second = self::app(&server, market(), 3).await;
    let (status, _) = send(
        &second,
        Method::GET,
        "/api/v1/tickers/7203/news",
        Some("u1"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn detailed_health_has_the_seeds_shape() {
    let server = RedisServer::start();
    let app = app(&server, market(), 1000).await;
    send(&app, Method::GET, "/api/v1/tickers/7203/price", Some("u1")).await;
    let (status, response) = send(&app, Method::GET, "/health/detailed", None).await;
    assert_eq!(status, StatusCode::OK);
    let body = json_of(response).await;
    assert_eq!(body["status"], "healthy", "{body}");
    let redis = &body["services"]["redis"];
    assert_eq!(redis["status"], "healthy");
    assert_eq!(redis["connected"], true);
    assert!(
        redis["memory_usage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{redis}"
    );
    for field in ["total_commands", "uptime_seconds", "connected_clients"] {
        assert!(redis[field].as_u64().is_some(), "{field}: {redis}");
    }
    assert!(redis["hit_rate_percent"].is_number(), "{redis}");

    drop(server);
    let (_, response) = send(&app, Method::GET, "/health/detailed", None).await;
    let body = json_of(response).await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["services"]["redis"]["connected"], false);
}
