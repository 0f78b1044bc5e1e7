//! The service over HTTP against a `redis-server` each test starts.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use cache_runtime::CacheBuilder;
use cache_tests::RedisServer;
use crypto_updater::coins::CoinProvider;
use crypto_updater::provider::Provider;
use crypto_updater::update::spawn_prewarm;
use crypto_updater::{router, AppState};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

struct App {
    router: Router,
    state: AppState,
    provider: Arc<CoinProvider>,
}

async fn app(server: &RedisServer) -> App {
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .expect("a cache over the test's redis-server");
    let delay = Duration::from_millis(5);
    let provider = Arc::new(CoinProvider {
        coins: Provider::new("coingecko", delay, 0.0),
        rankings: Provider::new("rankings", delay, 0.0),
    });
    let state = AppState::new(cache, Arc::clone(&provider));
    App {
        router: router(state.clone()),
        state,
        provider,
    }
}

async fn send(app: &App, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", "application/json");
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
    let response = app
        .router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn keys(server: &RedisServer) -> Vec<String> {
    let mut redis = server.connection().await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("v1:_:crypto:*")
        .query_async(&mut redis)
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn updating_one_coin_replaces_what_is_cached() {
    let server = RedisServer::start();
    let app = app(&server).await;
    let (status, first) = send(&app, Method::GET, "/api/coins/bitcoin", None).await;
    assert_eq!(status, StatusCode::OK, "{}", server.log());
    assert_eq!(app.provider.coins.calls(), 1);

    let (status, report) = send(
        &app,
        Method::POST,
        "/api/update-cache",
        Some(json!({"coin_id": "Bitcoin"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report, json!({"updated": ["bitcoin"], "failed": []}));
    assert_eq!(
        app.provider.coins.calls(),
        3,
        "asked for both figures, whatever was cached"
    );
    assert_eq!(
        keys(&server).await,
        [
            "v1:_:crypto:coin_data:bitcoin",
            "v1:_:crypto:tokenomics:bitcoin"
        ]
    );

    let (_, again) = send(&app, Method::GET, "/api/coins/bitcoin", None).await;
    let (_, supply) = send(&app, Method::GET, "/api/coins/BITCOIN/tokenomics", None).await;
    assert_ne!(
        again["price_usd"], first["price_usd"],
        "the updated price, not the first one"
    );
    assert_eq!(supply["coin_id"], "bitcoin");
    assert_eq!(
        app.provider.coins.calls(),
        3,
        "both read from what the update stored"
    );
    // Each entry with its policy's TTL (`CACHE_TTL_COIN_DATA`, `CACHE_TTL_TOKENOMICS`).
    let mut redis = server.connection().await;
    for (key, ttl_ms) in [("coin_data", 300_000), ("tokenomics", 600_000)] {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(format!("v1:_:crypto:{key}:bitcoin"))
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(pttl > ttl_ms - 10_000 && pttl <= ttl_ms, "{key}: {pttl} ms");
    }
}

#[tokio::test]
async fn updating_many_coins_stores_each() {
    let server = RedisServer::start();
    let app = app(&server).await;
    let body = json!({"coin_ids": ["bitcoin", "ethereum", "solana"]});
    let (status, report) = send(&app, Method::POST, "/api/update-cache", Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["updated"], json!(["bitcoin", "ethereum", "solana"]));
    assert_eq!(keys(&server).await.len(), 6);
    let (status, _) = send(
        &app,
        Method::POST,
        "/api/update-cache",
        Some(json!({"coin_ids": []})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn updating_the_popular_coins_asks_the_provider_for_the_list() {
    let server = RedisServer::start();
    let app = app(&server).await;
    let body = json!({"popular": true, "limit": 4});
    let (status, report) = send(&app, Method::POST, "/api/update-cache", Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        report["updated"],
        json!(["bitcoin", "ethereum", "tether", "solana"])
    );
    assert_eq!(app.provider.rankings.calls(), 1);
    assert_eq!(keys(&server).await.len(), 8);
    let (status, _) = send(
        &app,
        Method::POST,
        "/api/update-cache",
        Some(json!({"popular": false})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_scheduled_prewarm_stores_the_popular_coins() {
    let server = RedisServer::start();
    let app = app(&server).await;
    // The first round runs at once; the next one an hour later.
    let mut prewarm = spawn_prewarm(app.state.clone(), Duration::from_secs(3600), 3);
    prewarm
        .rounds
        .wait_for(|rounds| *rounds >= 1)
        .await
        .expect("the task runs");
    prewarm.task.abort();
    assert_eq!(keys(&server).await.len(), 6, "{}", server.log());
    let calls = app.provider.coins.calls();
    send(&app, Method::GET, "/api/coins/ethereum", None).await;
    assert_eq!(
        app.provider.coins.calls(),
        calls,
        "a pre-warmed coin is a hit"
    );
}

#[tokio::test]
async fn cache_stats_come_from_the_server() {
    let server = RedisServer::start();
    let app = app(&server).await;
    send(
        &app,
        Method::POST,
        "/api/update-cache",
        Some(json!({"coin_ids": ["bitcoin", "near"]})),
    )
    .await;
    let (status, stats) = send(&app, Method::GET, "/api/cache-stats", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["connected"], true, "{stats}");
    let mut redis = server.connection().await;
    let dbsize: u64 = redis::cmd("DBSIZE").query_async(&mut redis).await.unwrap();
    assert_eq!(stats["total_keys"], dbsize, "{stats}");
    assert!(dbsize >= 4);
    assert!(
        stats["used_memory_human"]
            .as_str()
            .is_some_and(|m| m.ends_with(['B', 'K', 'M', 'G'])),
        "{stats}"
    );
    // At least the cache's own connection.
    assert!(
        stats["connected_clients"].as_u64().is_some_and(|n| n >= 1),
        "{stats}"
    );
}
