//! The service over HTTP: real requests through the router, each test with its own cache (in the
//! router's state) and its own source, so tests run in parallel without sharing an entry or a
//! counter. The Redis tests start their own `redis-server`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::Router;
use cache_runtime::{Cache, CacheBuilder};
use cache_tests::{RedisCluster, RedisServer};
use dashboard::source::Source;
use dashboard::{router, AppState};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Short enough for fast tests, long enough that a miss is a real wait.
const SOURCE_DELAY: Duration = Duration::from_millis(20);

struct App {
    router: Router,
    source: Arc<Source>,
    cache: Cache,
}

impl App {
    async fn in_memory() -> App {
        let cache = CacheBuilder::new().build().await.expect("in-process cache");
        App::over(cache)
    }

    fn over(cache: Cache) -> App {
        let source = Arc::new(Source::new(SOURCE_DELAY));
        let router = router(AppState::new(cache.clone(), Arc::clone(&source)));
        App {
            router,
            source,
            cache,
        }
    }

    /// `GET uri` as `tenant`; the status and the JSON body.
    async fn get(&self, uri: &str, tenant: Option<&str>) -> (StatusCode, Value) {
        let tenant = tenant.map(|t| HeaderValue::from_str(t).expect("a valid header value"));
        self.get_with(uri, tenant).await
    }

    async fn get_with(&self, uri: &str, tenant: Option<HeaderValue>) -> (StatusCode, Value) {
        let (status, bytes) = self.get_raw(uri, tenant).await;
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "GET {uri}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, body)
    }

    async fn get_raw(&self, uri: &str, tenant: Option<HeaderValue>) -> (StatusCode, Vec<u8>) {
        let mut request = Request::get(uri);
        if let Some(tenant) = tenant {
            request = request.header("X-Tenant-Id", tenant);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::empty()).expect("a valid request"))
            .await
            .expect("the router is infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read the body")
            .to_bytes();
        (status, bytes.to_vec())
    }

    async fn metrics(&self) -> Value {
        let (status, body) = self.get("/api/v1/cache/metrics", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// What the source answers, straight from it: the body every request must return.
async fn expected(uri: &str, tenant: &str) -> Value {
    let source = Source::new(Duration::ZERO);
    let value = match uri {
        "/api/v1/dashboard/kpis" => serde_json::to_value(source.kpis(tenant).await),
        "/api/v1/dashboard/trends?days=7" => serde_json::to_value(source.trends(tenant, 7).await),
        "/api/v1/dashboard/activity?limit=5" => {
            serde_json::to_value(source.activity(tenant, 5).await)
        }
        other => panic!("no expectation for {other}"),
    };
    value.expect("the model serializes")
}

const KPIS: &str = "/api/v1/dashboard/kpis";
const TRENDS_7: &str = "/api/v1/dashboard/trends?days=7";
const ACTIVITY_5: &str = "/api/v1/dashboard/activity?limit=5";

#[tokio::test]
async fn a_repeated_request_is_served_from_the_cache() {
    let app = App::in_memory().await;

    let (status, first) = app.get(KPIS, Some("acme")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first, expected(KPIS, "acme").await);
    assert_eq!(app.source.queries(), 1);
    let kpis = &app.metrics().await["policies"]["dashboard_kpis"];
    assert_eq!(
        (kpis["hits"].as_u64(), kpis["misses"].as_u64()),
        (Some(0), Some(1))
    );

    let (status, second) = app.get(KPIS, Some("acme")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second, first);
    assert_eq!(
        app.source.queries(),
        1,
        "the second request reached the source"
    );
    let kpis = &app.metrics().await["policies"]["dashboard_kpis"];
    assert_eq!(
        (kpis["hits"].as_u64(), kpis["misses"].as_u64()),
        (Some(1), Some(1))
    );

    // Other parameters are other entries; the same parameters hit again.
    for uri in [TRENDS_7, TRENDS_7, ACTIVITY_5, ACTIVITY_5] {
        let (status, body) = app.get(uri, Some("acme")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, expected(uri, "acme").await, "{uri}");
    }
    assert_eq!(app.source.queries(), 3);
}

#[tokio::test]
async fn tenants_get_their_own_data_and_their_own_entries() {
    let app = App::in_memory().await;

    let (_, acme) = app.get(KPIS, Some("acme")).await;
    let (_, globex) = app.get(KPIS, Some("globex")).await;
    assert_eq!(acme["tenant"], "acme");
    assert_eq!(globex["tenant"], "globex");
    assert_ne!(acme["revenue_cents"], globex["revenue_cents"]);
    assert_eq!(globex, expected(KPIS, "globex").await);
    assert_eq!(app.source.queries(), 2, "one source query per tenant");

    // Each tenant now hits its own entry, never the other's.
    assert_eq!(app.get(KPIS, Some("globex")).await.1, globex);
    assert_eq!(app.get(KPIS, Some("acme")).await.1, acme);
    assert_eq!(app.source.queries(), 2);
}

#[tokio::test]
async fn a_request_without_a_usable_tenant_is_rejected_before_any_query() {
    let app = App::in_memory().await;
    // The codes `examples/README.md` documents for each kind of header.
    let value = |bytes: &[u8]| Some(HeaderValue::from_bytes(bytes).expect("a valid header value"));
    let headers = [
        (None, "missing_tenant"),
        (value(b""), "missing_tenant"),
        (value(b"   "), "missing_tenant"),
        (value(b"\xff\xfe"), "invalid_tenant"), // obs-text: valid in a header, not UTF-8
        (value("x".repeat(129).as_bytes()), "invalid_tenant"),
    ];
    for (header, code) in headers {
        for uri in [KPIS, TRENDS_7, ACTIVITY_5] {
            let (status, body) = app.get_with(uri, header.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {header:?}: {body}");
            assert_eq!(body["error"], code, "{header:?}: {body}");
            assert!(body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("X-Tenant-Id"));
        }
    }
    assert_eq!(app.source.queries(), 0);
    assert_eq!(
        app.metrics().await["policies"],
        json!({}),
        "the cache was never asked"
    );
}

#[tokio::test]
async fn invalid_parameters_are_rejected_with_a_json_error() {
    let app = App::in_memory().await;
    for uri in [
        "/api/v1/dashboard/trends?days=0",
        "/api/v1/dashboard/trends?days=366",
        "/api/v1/dashboard/trends?days=-1",
        "/api/v1/dashboard/trends?days=abc",
        "/api/v1/dashboard/trends?days=",
        "/api/v1/dashboard/trends?days=7&days=8",
        "/api/v1/dashboard/activity?limit=0",
        "/api/v1/dashboard/activity?limit=101",
        "/api/v1/dashboard/activity?limit=1e3",
    ] {
        let (status, body) = app.get(uri, Some("acme")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"], "invalid_query", "{uri}: {body}");
        assert!(body["message"].is_string(), "{uri}: {body}");
    }
    assert_eq!(app.source.queries(), 0);

    // The bounds themselves and the defaults are fine.
    let (status, trends) = app.get("/api/v1/dashboard/trends", Some("acme")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(trends["days"], 30);
    assert_eq!(trends["points"].as_array().map(Vec::len), Some(30));
    let (status, trends) = app
        .get("/api/v1/dashboard/trends?days=365", Some("acme"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(trends["points"].as_array().map(Vec::len), Some(365));
    let (status, activity) = app.get("/api/v1/dashboard/activity", Some("acme")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(activity["items"].as_array().map(Vec::len), Some(10));
    let (status, activity) = app
        .get("/api/v1/dashboard/activity?limit=100", Some("acme"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(activity["items"].as_array().map(Vec::len), Some(100));
}

#[tokio::test]
async fn metrics_report_backend_breaker_and_per_policy_counters() {
    let app = App::in_memory().await;
    for uri in [KPIS, KPIS, KPIS, TRENDS_7, ACTIVITY_5, ACTIVITY_5] {
        assert_eq!(app.get(uri, Some("acme")).await.0, StatusCode::OK);
    }
    let metrics = app.metrics().await;
    assert_eq!(metrics["backend"], "memory");
    assert_eq!(metrics["breaker"], "closed");
    let policies = metrics["policies"]
        .as_object()
        .expect("policies is an object");
    let mut names: Vec<&str> = policies.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["dashboard_kpis", "dashboard_trends", "recent_activity"]
    );
    for (name, hits, misses, hit_rate) in [
        ("dashboard_kpis", 2, 1, 2.0 / 3.0),
        ("dashboard_trends", 0, 1, 0.0),
        ("recent_activity", 1, 1, 0.5),
    ] {
        let policy = &policies[name];
        assert_eq!(policy["hits"], hits, "{name}: {policy}");
        assert_eq!(policy["misses"], misses, "{name}: {policy}");
        let rate = policy["hit_rate"].as_f64().expect("hit_rate is a number");
        assert!((rate - hit_rate).abs() < 1e-9, "{name}: {policy}");
        assert_eq!(policy["errors"], 0, "{name}: {policy}");
    }
    assert_eq!(app.cache.stats().policies["dashboard_kpis"].hits, 2);
}

#[tokio::test]
async fn health_and_unknown_paths() {
    let app = App::in_memory().await;
    let (status, body) = app.get_raw("/healthz", None).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ok"[..]));
    let (status, body) = app.get("/api/v1/nope", Some("acme")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn a_query_outside_any_tenant_scope_is_neither_cached_nor_run() {
    let app = App::in_memory().await;
    let result = app.cache.scope(dashboard::queries::kpis(&app.source)).await;
    assert_eq!(result, Err(dashboard::queries::QueryError::NoTenant));
    assert_eq!(app.source.queries(), 0);
    let kpis = &app.cache.stats().policies["dashboard_kpis"];
    assert_eq!((kpis.bypassed, kpis.hits, kpis.misses), (1, 0, 0));
}

/// The keys in `server` that match `pattern`, by `SCAN` (never `KEYS`), sorted.
async fn scan(connection: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(100)
            .query_async(connection)
            .await
            .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys
}

#[tokio::test]
async fn redis_holds_one_readable_json_entry_per_tenant_and_request() {
    let server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .expect("cache over the test's redis");
    let app = App::over(cache);
    // A tenant id with a key separator and a glob character: it stays data in the key.
    let tricky = "acme:eu*";
    let requests = [
        (KPIS, "acme"),
        (TRENDS_7, "acme"),
        (ACTIVITY_5, "globex"),
        (KPIS, tricky),
    ];
    let mut bodies = Vec::new();
    for (uri, tenant) in requests {
        let (status, body) = app.get(uri, Some(tenant)).await;
        assert_eq!(status, StatusCode::OK, "{uri} {tenant}: {body}");
        assert_eq!(body, expected(uri, tenant).await);
        bodies.push(body);
    }
    assert_eq!(app.metrics().await["backend"], "redis");

    let mut redis = server.connection().await;
    // Beside the entries the runtime keeps generations for invalidation (`v1:gen…`).
    let (generations, entries): (Vec<String>, Vec<String>) = scan(&mut redis, "v1:*")
        .await
        .into_iter()
        .partition(|key| key == "v1:gen" || key.starts_with("v1:gen:"));
    let wanted = [
        ("v1:t=acme:dashboard:kpis", 60_000),
        ("v1:t=acme:dashboard:trends:~7", 600_000),
        ("v1:t=globex:dashboard:activity:~5", 30_000),
        ("v1:t=acme%3Aeu%2A:dashboard:kpis", 60_000),
    ];
    let mut wanted_keys: Vec<&str> = wanted.iter().map(|(key, _)| *key).collect();
    wanted_keys.sort_unstable();
    assert_eq!(entries, wanted_keys, "{}", server.log());
    // Nothing the service writes for a tenant lives forever (the service's own generation,
    // `v1:gen`, is one key whatever the number of tenants).
    for key in generations.iter().filter(|key| *key != "v1:gen") {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut redis)
            .await
            .expect("PTTL");
        assert!(pttl > 0, "{key} has no TTL ({pttl})");
    }
    assert_eq!(
        scan(&mut redis, "v1:t=acme:*").await,
        ["v1:t=acme:dashboard:kpis", "v1:t=acme:dashboard:trends:~7"],
        "a tenant's pattern matches only its own keys"
    );

    for ((key, ttl_ms), ((_, tenant), body)) in wanted.iter().zip(requests.iter().zip(&bodies)) {
        assert!(
            key.starts_with(&format!(
                "v1:t={}:",
                tenant.replace(':', "%3A").replace('*', "%2A")
            )),
            "{key} belongs to {tenant}"
        );
        let stored: String = redis::cmd("GET")
            .arg(*key)
            .query_async(&mut redis)
            .await
            .expect("GET");
        // JSON, in an envelope that carries the generations' stamp: `{"g": …, "v": <value>}`.
        let stored: Value = serde_json::from_str(&stored).expect("the entry is plain JSON");
        assert_eq!(&stored["v"], body, "{key}");
        let pttl: i64 = redis::cmd("PTTL")
            .arg(*key)
            .query_async(&mut redis)
            .await
            .expect("PTTL");
        assert!(
            pttl > ttl_ms - 10_000 && pttl <= *ttl_ms,
            "{key}: PTTL {pttl} ms, policy {ttl_ms} ms"
        );
    }
}

#[tokio::test]
async fn every_request_succeeds_when_redis_dies_mid_traffic() {
    let mut server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .operation_timeout(Duration::from_millis(100))
        .write_timeout(Duration::from_millis(100))
        .connect_timeout(Duration::from_millis(100))
        .breaker(2, Duration::from_secs(60))
        .build()
        .await
        .expect("cache over the test's redis");
    let app = Arc::new(App::over(cache));
    let tenants = ["acme", "globex", "initech"];
    let uris = [KPIS, TRENDS_7, ACTIVITY_5];

    let answered = Arc::new(AtomicUsize::new(0));
    let traffic = tokio::spawn({
        let app = Arc::clone(&app);
        let answered = Arc::clone(&answered);
        async move {
            for round in 0..40 {
                let (uri, tenant) = (uris[round % 3], tenants[(round / 3) % 3]);
                let (status, body) = app.get(uri, Some(tenant)).await;
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "request {round} {uri} {tenant}: {body}"
                );
                assert_eq!(body, expected(uri, tenant).await, "request {round}");
                answered.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    while answered.load(Ordering::SeqCst) < 12 && !traffic.is_finished() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let hits_before = app
        .cache
        .stats()
        .policies
        .values()
        .map(|p| p.hits)
        .sum::<u64>();
    let server = tokio::task::spawn_blocking(move || {
        server.kill();
        server
    })
    .await
    .expect("kill redis-server");
    traffic
        .await
        .expect("every request answered 200 with the right data");

    assert_eq!(answered.load(Ordering::SeqCst), 40);
    let stats = app.cache.stats();
    let errors: u64 = stats.policies.values().map(|p| p.errors).sum();
    assert!(hits_before > 0, "the cache served hits before the outage");
    assert!(errors > 0, "the outage was counted: {stats:?}");
    let metrics = app.metrics().await;
    assert_eq!(metrics["backend"], "redis");
    assert_eq!(metrics["breaker"], "open", "{metrics}\n{}", server.log());
}

/// The second seed's configuration, on a real 3-master cluster: `REDIS_CLUSTER_NODES` alone
/// makes the service cache there, every tenant's second request is a hit, and the entries of a
/// few hundred tenants are spread over all three masters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_cluster_nodes_the_service_caches_on_every_master_of_a_cluster() {
    let cluster = RedisCluster::start();
    let cache = CacheBuilder::from_vars([
        ("REDIS_CLUSTER_NODES".to_owned(), cluster.urls().join(",")),
        // The second seed sets both; the cluster wins.
        ("REDIS_URL".to_owned(), "redis://127.0.0.1:1".to_owned()),
    ])
    .expect("the seed's settings")
    .build()
    .await
    .unwrap_or_else(|e| panic!("build the cache: {e}\n{}", cluster.log()));
    let app = App::over(cache);
    const TENANTS: u64 = 300;
    for tenant in 0..TENANTS {
        let tenant = format!("tenant-{tenant}");
        let wanted = expected(KPIS, &tenant).await;
        for _ in 0..2 {
            let (status, body) = app.get(KPIS, Some(&tenant)).await;
            assert_eq!(status, StatusCode::OK, "{tenant}: {body}");
            assert_eq!(body, wanted, "{tenant}");
        }
    }
    let metrics = app.metrics().await;
    assert_eq!(metrics["backend"], "redis", "{metrics}");
    let kpis = &metrics["policies"]["dashboard_kpis"];
    assert_eq!(
        (kpis["hits"].as_u64(), kpis["misses"].as_u64()),
        (Some(TENANTS), Some(TENANTS)),
        "{kpis}"
    );
    assert_eq!(app.source.queries(), TENANTS);
    let keys = cluster.dbsize_per_master().await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    // 300 entries and their generations over 16 shards: each master holds at least a fifth.
    let total: u64 = keys.iter().map(|(_, n)| n).sum();
    assert!(
        keys.iter().all(|(_, n)| *n * 5 >= total),
        "the keys are not spread over the masters: {keys:?}"
    );
}
