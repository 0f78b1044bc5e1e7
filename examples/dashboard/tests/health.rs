//! `/healthz` and `/health/detailed` over HTTP, with the in-process store and with a real
//! `redis-server`: up, killed, and back while the breaker is still open.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use cache_runtime::{Cache, CacheBuilder};
use cache_tests::RedisServer;
use dashboard::source::Source;
use dashboard::{router, AppState};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn app(cache: Cache) -> Router {
    router(AppState::new(
        cache,
        Arc::new(Source::new(Duration::from_millis(1))),
    ))
}

async fn get(router: &Router, uri: &str, tenant: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = Request::get(uri);
    if let Some(tenant) = tenant {
        request = request.header("X-Tenant-Id", tenant);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("a request"))
        .await
        .expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, body.to_vec())
}

async fn healthz(router: &Router) -> String {
    let (status, body) = get(router, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    String::from_utf8(body).expect("text")
}

async fn detailed(router: &Router) -> Value {
    let (status, body) = get(router, "/health/detailed", None).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&body).expect("JSON")
}

async fn redis_cache(server: &RedisServer, cool_down: Duration) -> Cache {
    CacheBuilder::new()
        .redis_url(server.url())
        .breaker(1, cool_down)
        .build()
        .await
        .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", server.log()))
}

#[tokio::test]
async fn in_process_store_is_healthy() {
    let router = app(CacheBuilder::new().build().await.expect("in-process cache"));
    assert_eq!(healthz(&router).await, "ok");
    let (status, _) = get(&router, "/api/v1/dashboard/kpis", Some("acme")).await;
    assert_eq!(status, StatusCode::OK);
    let body = detailed(&router).await;
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["services"]["redis"], Value::Null);
    assert_eq!(body["services"]["cache"]["backend"], "memory");
    assert_eq!(body["services"]["cache"]["local_entries"], 1);
}

#[tokio::test]
async fn redis_up_then_killed() {
    let mut server = RedisServer::start();
    let router = app(redis_cache(&server, Duration::from_secs(60)).await);
    for _ in 0..2 {
        let (status, _) = get(&router, "/api/v1/dashboard/kpis", Some("acme")).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(healthz(&router).await, "ok");
    let body = detailed(&router).await;
    assert_eq!(body["status"], "healthy", "{body}");
    let redis = &body["services"]["redis"];
    assert_eq!(redis["status"], "healthy", "{body}");
    assert_eq!(redis["connected"], true);
    let hit_rate = redis["hit_rate_percent"].as_f64().expect("a hit rate");
    assert!(
        (0.0..=100.0).contains(&hit_rate) && hit_rate > 0.0,
        "{body}"
    );
    assert!(
        redis["memory_usage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        redis["total_commands"].as_u64().is_some_and(|n| n > 0),
        "{body}"
    );
    assert!(redis["uptime_seconds"].as_u64().is_some(), "{body}");
    assert!(
        redis["connected_clients"].as_u64().is_some_and(|n| n >= 1),
        "{body}"
    );
    assert_eq!(
        body["services"]["cache"]["hit_rate_percent"], 50.0,
        "{body}"
    );

    server.kill();
    let health = healthz(&router).await;
    assert!(
        health.starts_with("degraded: redis unreachable"),
        "{health}"
    );
    let body = detailed(&router).await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(body["reason"]
        .as_str()
        .is_some_and(|r| r.contains("unreachable")));
    let redis = &body["services"]["redis"];
    assert_eq!(redis["status"], "unhealthy");
    assert_eq!(redis["connected"], false);
    assert_eq!(redis["memory_usage"], Value::Null);
    // The service itself still answers, uncached.
    let (status, _) = get(&router, "/api/v1/dashboard/kpis", Some("globex")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_open_breaker_is_degraded_even_with_redis_back() {
    let mut server = RedisServer::start();
    let cache = redis_cache(&server, Duration::from_secs(600)).await;
    let router = app(cache.clone());
    server.kill();
    // One failed lookup opens the breaker (threshold 1) for ten minutes.
    let (status, _) = get(&router, "/api/v1/dashboard/kpis", Some("acme")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache.stats().breaker, cache_runtime::BreakerState::Open);
    server.restart();
    let health = healthz(&router).await;
    assert!(
        health.starts_with("degraded: the cache's breaker is open"),
        "{health}"
    );
    let body = detailed(&router).await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["services"]["redis"]["connected"], true, "{body}");
    assert_eq!(body["services"]["cache"]["breaker"], "open");
}
