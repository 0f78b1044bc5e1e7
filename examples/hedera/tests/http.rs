//! The service over HTTP: requests through the router, each test with its own cache, providers
//! and `redis-server`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use cache_runtime::CacheBuilder;
use cache_tests::RedisServer;
use hedera::config::ServiceConfig;
use hedera::{router, AppState, Providers};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

fn providers(coingecko_failure_rate: f64) -> Arc<Providers> {
    Arc::new(Providers::from_config(&ServiceConfig {
        provider_delay: Duration::from_millis(5),
        coingecko_failure_rate,
        ..ServiceConfig::default()
    }))
}

async fn app(server: &RedisServer, providers: Arc<Providers>, per_minute: u64) -> Router {
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .expect("a cache over the test's redis-server");
    router(AppState::new(cache, providers), per_minute)
}

async fn send(app: &Router, method: Method, uri: &str, ip: &str, body: Option<Value>) -> Response {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("X-Forwarded-For", ip)
        .header("Content-Type", "application/json");
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
    app.clone()
        .oneshot(request.body(body).expect("a valid request"))
        .await
        .expect("the router is infallible")
}

async fn json_of(response: Response) -> Value {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

const IP: &str = "192.0.2.1";

#[tokio::test]
async fn a_session_lives_until_logout() {
    let server = RedisServer::start();
    let app = app(&server, providers(0.0), 100).await;
    let new = json!({"userId": "u1", "email": "u1@example.com", "countryCode": "es", "hederaAccountId": "0.0.12345"});
    let created = send(&app, Method::POST, "/api/v1/sessions", IP, Some(new)).await;
    assert_eq!(created.status(), StatusCode::CREATED, "{}", server.log());
    assert_eq!(json_of(created).await["countryCode"], "ES");

    let mut redis = server.connection().await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg("v1:_:session:u1")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(pttl > 29 * 24 * 3600 * 1000, "30 days, got {pttl} ms");
    // Shorten the TTL as if days had passed; a read renews it.
    let _: () = redis::cmd("PEXPIRE")
        .arg("v1:_:session:u1")
        .arg(60_000)
        .query_async(&mut redis)
        .await
        .unwrap();
    let read = send(&app, Method::GET, "/api/v1/sessions/u1", IP, None).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(json_of(read).await["hederaAccountId"], "0.0.12345");
    let pttl: i64 = redis::cmd("PTTL")
        .arg("v1:_:session:u1")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        pttl > 29 * 24 * 3600 * 1000,
        "activity renews the 30 days, got {pttl} ms"
    );

    let logout = send(&app, Method::DELETE, "/api/v1/sessions/u1", IP, None).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let gone = send(&app, Method::GET, "/api/v1/sessions/u1", IP, None).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let again = send(&app, Method::DELETE, "/api/v1/sessions/u1", IP, None).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn eur_and_eur_in_lower_case_are_one_entry() {
    let server = RedisServer::start();
    let providers = providers(0.0);
    let app = app(&server, Arc::clone(&providers), 100).await;
    let upper = json_of(send(&app, Method::GET, "/api/v1/rates/EUR", IP, None).await).await;
    let lower = json_of(send(&app, Method::GET, "/api/v1/rates/eur", IP, None).await).await;
    assert_eq!(upper, lower);
    assert_eq!(upper["currency"], "EUR");
    assert_eq!(
        providers.coingecko.calls(),
        1,
        "the provider was asked once"
    );
    let mut redis = server.connection().await;
    let exists: bool = redis::cmd("EXISTS")
        .arg("v1:_:exchange_rate:EUR")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(exists, "{}", server.log());

    let unknown = send(&app, Method::GET, "/api/v1/rates/XYZ", IP, None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failing_primary_falls_back_to_the_other_provider() {
    let server = RedisServer::start();
    let providers = providers(1.0);
    let app = app(&server, Arc::clone(&providers), 100).await;
    let rate = json_of(send(&app, Method::GET, "/api/v1/rates/usd", IP, None).await).await;
    assert_eq!(rate["source"], "coinmarketcap");
    assert_eq!(
        (providers.coingecko.calls(), providers.coinmarketcap.calls()),
        (1, 1)
    );
}

#[tokio::test]
async fn tariffs_are_keyed_by_country_and_utility() {
    let server = RedisServer::start();
    let providers = providers(0.0);
    let app = app(&server, Arc::clone(&providers), 100).await;
    let first = send(&app, Method::GET, "/api/v1/tariffs/es/Iberdrola", IP, None).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second =
        json_of(send(&app, Method::GET, "/api/v1/tariffs/ES/iberdrola", IP, None).await).await;
    assert_eq!(second["countryCode"], "ES");
    assert_eq!(providers.tariffs.calls(), 1);
    send(&app, Method::GET, "/api/v1/tariffs/ES/endesa", IP, None).await;
    assert_eq!(providers.tariffs.calls(), 2);
}

#[tokio::test]
async fn the_sixth_request_of_an_ip_is_refused_on_every_instance() {
    let server = RedisServer::start();
    let first = app(&server, providers(0.0), 5).await;
    let second = app(&server, providers(0.0), 5).await;
    for n in 1..=5 {
        // Alternate instances: they count in one Redis.
        let app = if n % 2 == 0 { &second } else { &first };
        let response = send(app, Method::GET, "/api/v1/rates/eur", IP, None).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "request {n}: {}",
            server.log()
        );
        let remaining = response.headers()["RateLimit-Remaining"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(remaining, (5 - n).to_string());
    }
    for app in [&first, &second] {
        let refused = send(app, Method::GET, "/api/v1/rates/eur", IP, None).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = refused.headers()["Retry-After"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
        assert_eq!(refused.headers()["RateLimit-Limit"], "5");
    }
    let other = send(&first, Method::GET, "/api/v1/rates/eur", "192.0.2.2", None).await;
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "another IP has its own count"
    );
}
