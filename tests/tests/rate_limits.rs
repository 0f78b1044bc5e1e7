//! Counters, rate limits and quotas against a real Redis and over the in-process store, the
//! local fallback when Redis is killed, and the tower layer in front of an axum router.
//!
//! The Redis tests run on a single server (`single::…`) and on a three-master cluster
//! (`cluster::…`), see [`cache_tests::backend`]: there the sliding window's two counters (read
//! in one pipeline) must share a hash slot. The outage test kills its server and runs on a
//! single server only.

use std::sync::Arc;
use std::time::Duration;

use cache_runtime::limit::{client_ip, Counter, Quota, RateLimit, RateLimitLayer, Source};
use cache_runtime::{tenant, Cache, CacheBuilder};
use cache_tests::inspect::redis_cache;
use cache_tests::{backend_tests, Backend, RedisServer};
use tower::ServiceExt;

const MINUTE: Duration = Duration::from_secs(60);

/// Five requests per window per key: the sixth is refused, another key is not.
async fn sixth_request_refused(cache: &Cache, limit: &RateLimit) {
    for n in 1..=5 {
        let decision = limit.check_in(cache, "10.0.0.1").await;
        assert!(decision.allowed, "request {n}: {decision:?}");
        assert_eq!(decision.remaining, 5 - n);
        assert_eq!(decision.source, Source::Store);
    }
    let refused = limit.check_in(cache, "10.0.0.1").await;
    assert!(!refused.allowed, "{refused:?}");
    assert!(refused.retry_after.is_some_and(|after| after <= MINUTE));
    assert!(limit.check_in(cache, "10.0.0.2").await.allowed);
    // Per tenant: the same key in a tenant scope has its own count.
    assert!(
        tenant::scope("acme", limit.check_in(cache, "10.0.0.1"))
            .await
            .allowed
    );
}

async fn fixed_and_sliding_windows_over_redis(backend: Backend) {
    let cache = backend.cache().await;
    sixth_request_refused(&cache, &RateLimit::fixed("fixed", 5, MINUTE)).await;
    sixth_request_refused(&cache, &RateLimit::sliding("sliding", 5, MINUTE)).await;
    let stats = cache.stats().direct;
    assert_eq!(
        (stats.local_limit_decisions, stats.write_errors),
        (0, 0),
        "{stats:?}\n{}",
        backend.log()
    );
    // The counters are in Redis, under the key's name on this backend: the fixed window's one
    // counter, and the sliding window's counter of the current window (`:~<index>`). On a
    // cluster the hash tag comes before `:~<index>`, so every window of one key is in one slot:
    // the pipeline that counts the current window and reads the previous one never spans two.
    let fixed = backend.key("v1:_:rl:fixed:10.0.0.1");
    assert_eq!(backend.keys_with_prefix(&fixed).await, [fixed.as_str()]);
    let sliding = backend
        .keys_with_prefix(&format!("{}:~", backend.key("v1:_:rl:sliding:10.0.0.1")))
        .await;
    assert!(
        (1..=2).contains(&sliding.len()),
        "the sliding window's counters: {sliding:?} among {:?}",
        backend.keys().await
    );
}

#[tokio::test]
async fn fixed_and_sliding_windows_in_process() {
    let cache = CacheBuilder::new().build().await.expect("build");
    sixth_request_refused(&cache, &RateLimit::fixed("fixed", 5, MINUTE)).await;
    sixth_request_refused(&cache, &RateLimit::sliding("sliding", 5, MINUTE)).await;
}

async fn two_caches_on_one_redis_share_the_limit(backend: Backend) {
    let (first, second) = (backend.cache().await, backend.cache().await);
    // Each process has its own `RateLimit` value; the count lives in Redis.
    let (here, there) = (
        RateLimit::fixed("shared", 4, MINUTE),
        RateLimit::fixed("shared", 4, MINUTE),
    );
    for _ in 0..2 {
        assert!(here.check_in(&first, "k").await.allowed);
        assert!(there.check_in(&second, "k").await.allowed);
    }
    assert!(!here.check_in(&first, "k").await.allowed);
    assert!(!there.check_in(&second, "k").await.allowed);
}

#[tokio::test]
async fn a_killed_redis_hands_over_to_the_local_limiter() {
    let mut server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let limit = RateLimit::fixed("outage", 3, MINUTE);
    assert!(limit.check_in(&cache, "k").await.allowed);
    server.kill();
    // Neither unlimited nor refusing everything: the local window admits the limit, then refuses.
    let decisions: Vec<_> = futures_free_loop(&limit, &cache, 4).await;
    assert!(decisions.iter().all(|d| d.source == Source::Local));
    assert_eq!(
        decisions.iter().map(|d| d.allowed).collect::<Vec<_>>(),
        [true, true, true, false]
    );
    assert_eq!(cache.stats().direct.local_limit_decisions, 4);
}

async fn futures_free_loop(
    limit: &RateLimit,
    cache: &Cache,
    n: usize,
) -> Vec<cache_runtime::limit::Decision> {
    let mut decisions = Vec::with_capacity(n);
    for _ in 0..n {
        decisions.push(limit.check_in(cache, "k").await);
    }
    decisions
}

async fn counters_and_daily_quotas(backend: Backend) {
    let cache = backend.cache().await;
    let requests = Counter::new("requests", MINUTE);
    let quota = Quota::daily("api", 2);
    cache
        .scope(async {
            assert_eq!(requests.get("ip").await, Some(0));
            assert_eq!(requests.increment("ip").await, Some(1));
            assert_eq!(requests.increment("ip").await, Some(2));
            assert_eq!(requests.get("ip").await, Some(2));
            assert!(requests.reset("ip").await);
            assert_eq!(requests.get("ip").await, Some(0));

            assert!(quota.consume("user123").await.allowed);
            let second = quota.consume("user123").await;
            assert!(second.allowed && second.remaining == 0);
            assert!(second.reset <= Duration::from_secs(24 * 3600));
            assert!(!quota.consume("user123").await.allowed);
            assert!(quota.consume("user456").await.allowed);
            assert_eq!(quota.used("user123").await, Some(3));
        })
        .await;
    // The counter is a plain Redis integer (`…:user123:<day>`) that expires at UTC midnight.
    let mut redis = backend.connection().await;
    let keys = backend
        .keys_with_prefix(&format!("{}:", backend.key("v1:_:quota:api:user123")))
        .await;
    assert_eq!(keys.len(), 1, "{:?}", backend.keys().await);
    assert_eq!(redis.get(&keys[0]).await.as_deref(), Some(&b"3"[..]));
    let ttl = redis.pttl(&keys[0]).await;
    assert!(ttl > 0 && ttl <= 24 * 3600 * 1000, "{ttl}");
}

async fn the_tower_layer_answers_429_with_headers(backend: Backend) {
    let cache = backend.cache().await;
    let limit = Arc::new(RateLimit::fixed("http", 2, MINUTE));
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .layer(RateLimitLayer::new(limit, client_ip).cache(cache.clone()));
    let cache_stats = cache;
    let request = |ip: &str| {
        axum::http::Request::builder()
            .uri("/")
            .header("x-forwarded-for", format!("{ip}, 10.0.0.254"))
            .body(axum::body::Body::empty())
            .expect("a request")
    };
    for remaining in ["1", "0"] {
        let response = app
            .clone()
            .oneshot(request("203.0.113.7"))
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-limit"], "2");
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
    }
    let refused = app
        .clone()
        .oneshot(request("203.0.113.7"))
        .await
        .expect("answer");
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    assert!(refused.headers().contains_key("ratelimit-reset"));
    let other = app.oneshot(request("198.51.100.1")).await.expect("answer");
    assert_eq!(other.status(), 200, "another client is not limited");
    assert_eq!(
        cache_stats.stats().direct.local_limit_decisions,
        0,
        "every decision came from Redis"
    );
}

backend_tests!(
    fixed_and_sliding_windows_over_redis,
    two_caches_on_one_redis_share_the_limit,
    counters_and_daily_quotas,
    the_tower_layer_answers_429_with_headers,
);
