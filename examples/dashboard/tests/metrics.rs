//! `GET /metrics` through the router: the Prometheus text format, parsed, with the cache's
//! counters moving as requests hit and miss. Its own test binary, since the recorder is
//! process-wide: no other test's requests move these counters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use cache_runtime::CacheBuilder;
use cache_tests::RedisServer;
use dashboard::source::Source;
use dashboard::{router, AppState};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// One sample of the exposition format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text format's sample lines (`name{label="value",…} number`), skipping comments;
/// label values may hold `\\`, `\"` and `\n` escapes.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let name = line[..name_end].to_owned();
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices();
            let mut label = String::new();
            let end = loop {
                let (i, c) = chars.next().unwrap_or_else(|| panic!("unclosed {line:?}"));
                match c {
                    '}' => break i + 1,
                    ',' | ' ' => {}
                    '=' => {
                        assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
                        let mut value = String::new();
                        loop {
                            match chars.next().map(|(_, c)| c) {
                                Some('"') => break,
                                Some('\\') => match chars.next().map(|(_, c)| c) {
                                    Some('n') => value.push('\n'),
                                    Some(c) => value.push(c),
                                    None => panic!("dangling escape in {line:?}"),
                                },
                                Some(c) => value.push(c),
                                None => panic!("unclosed value in {line:?}"),
                            }
                        }
                        labels.insert(std::mem::take(&mut label), value);
                    }
                    c => label.push(c),
                }
            };
            rest = &inner[end..];
        }
        let value = rest
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            value => value
                .parse()
                .unwrap_or_else(|e| panic!("{value:?} in {line:?}: {e}")),
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

async fn scrape(router: &Router) -> Vec<Sample> {
    let response = router
        .clone()
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("the router is infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE].clone();
    assert!(
        content_type
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain")),
        "{content_type:?}"
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    parse(std::str::from_utf8(&body).expect("UTF-8"))
}

/// The value of `name` for the kpis query (0 before it is registered).
fn kpis(samples: &[Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && s.labels.get("policy").map(String::as_str) == Some("dashboard_kpis")
                && s.labels.get("function").map(String::as_str) == Some("dashboard::queries::kpis")
        })
        .map(|s| s.value)
        .sum()
}

/// The kpis query's samples, for failure messages.
fn kpis_lines(samples: &[Sample]) -> String {
    samples
        .iter()
        .filter(|s| {
            s.labels
                .get("function")
                .is_some_and(|f| f.ends_with("kpis"))
        })
        .map(|s| format!("{} {:?} {}\n", s.name, s.labels, s.value))
        .collect()
}

async fn get_kpis(router: &Router, tenant: &str) {
    let request = Request::get("/api/v1/dashboard/kpis")
        .header("X-Tenant-Id", tenant)
        .body(Body::empty())
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_hits_and_misses_by_policy_and_function() {
    // The recorder first: the cache registers its handles with it when a site is first used.
    let prometheus = dashboard::prometheus::install().expect("the only recorder");
    let server = RedisServer::start();
    let cache = CacheBuilder::new()
        .redis_url(server.url())
        .build()
        .await
        .expect("cache over the test's redis");
    let source = Arc::new(Source::new(Duration::from_millis(1)));
    let app = router(AppState::new(cache, source).with_prometheus(prometheus));

    let before = scrape(&app).await;
    assert_eq!(kpis(&before, "cache_hits_total"), 0.0);
    assert_eq!(kpis(&before, "cache_misses_total"), 0.0);

    get_kpis(&app, "acme").await;
    let after_miss = scrape(&app).await;
    assert_eq!(
        kpis(&after_miss, "cache_misses_total"),
        1.0,
        "{}",
        kpis_lines(&after_miss)
    );
    assert_eq!(kpis(&after_miss, "cache_hits_total"), 0.0);
    assert_eq!(kpis(&after_miss, "cache_miss_duration_seconds_count"), 1.0);

    get_kpis(&app, "acme").await;
    get_kpis(&app, "acme").await;
    let after_hits = scrape(&app).await;
    assert_eq!(
        kpis(&after_hits, "cache_hits_total"),
        2.0,
        "{}",
        kpis_lines(&after_hits)
    );
    assert_eq!(kpis(&after_hits, "cache_misses_total"), 1.0);
    assert_eq!(kpis(&after_hits, "cache_hit_duration_seconds_count"), 2.0);
    assert_eq!(kpis(&after_hits, "cache_value_bytes_count"), 1.0);

    // Another tenant is another entry, but not another series: tenants are never labels.
    get_kpis(&app, "globex").await;
    let samples = scrape(&app).await;
    assert_eq!(kpis(&samples, "cache_misses_total"), 2.0);
    assert!(samples.iter().all(|s| s
        .labels
        .values()
        .all(|v| !v.contains("acme") && !v.contains("globex"))));
    assert!(
        samples
            .iter()
            .any(|s| s.name == "cache_breaker_state" && s.value == 0.0),
        "the breaker's gauge is closed"
    );
    assert!(
        samples
            .iter()
            .all(|s| s.labels.get("function").is_none_or(|f| !f.is_empty())),
        "no series without a function"
    );
}

#[test]
fn the_parser_reads_escapes_and_bare_samples() {
    let samples = parse(
        "# TYPE x counter\nx{a=\"q\\\"u\\\\o\\nte\",b=\"\"} 3\ny 1.5\nz_sum{quantile=\"0.5\"} +Inf\n",
    );
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0].labels["a"], "q\"u\\o\nte");
    assert_eq!(samples[0].labels["b"], "");
    assert_eq!(samples[0].value, 3.0);
    assert_eq!((samples[1].name.as_str(), samples[1].value), ("y", 1.5));
    assert_eq!(samples[2].value, f64::INFINITY);
}
