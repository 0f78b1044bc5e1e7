//! [`RateLimitLayer`]: a [`RateLimit`] in front of a tower HTTP service (an axum router).
//!
//! Each request is counted under the key its extractor returns; a refused request is answered
//! `429 Too Many Requests` without reaching the service. Every answer carries `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` (seconds), a refusal also `Retry-After`
//! (seconds).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use super::{Decision, RateLimit};
use crate::Cache;

/// The key of requests whose extractor found none: they share one count.
const UNKNOWN: &str = "unknown";

/// Limits the requests of a service by `key(&request)`: refused requests get `429 Too Many
/// Requests` and `Retry-After`; every answer carries the `RateLimit-*` headers.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cache_runtime::limit::{client_ip, RateLimit, RateLimitLayer};
///
/// let per_ip = Arc::new(RateLimit::fixed("api", 100, Duration::from_secs(60)));
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .layer(RateLimitLayer::new(per_ip, client_ip));
/// ```
pub struct RateLimitLayer<F> {
    limit: Arc<RateLimit>,
    key: F,
    cache: Option<Cache>,
}

impl<F: Clone> Clone for RateLimitLayer<F> {
    fn clone(&self) -> Self {
        Self {
            limit: Arc::clone(&self.limit),
            key: self.key.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<F> RateLimitLayer<F> {
    /// Counts each request under `key(&request)` (`None`: one shared `unknown` key) in the
    /// cache in use when the request arrives.
    pub fn new(limit: Arc<RateLimit>, key: F) -> Self {
        Self {
            limit,
            key,
            cache: None,
        }
    }

    /// Counts in `cache` instead of the cache in use.
    pub fn cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }
}

impl<S, F: Clone> Layer<S> for RateLimitLayer<F> {
    type Service = RateLimitService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] wraps around another.
pub struct RateLimitService<S, F> {
    inner: S,
    layer: RateLimitLayer<F>,
}

impl<S: Clone, F: Clone> Clone for RateLimitService<S, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, F, B, R> Service<Request<B>> for RateLimitService<S, F>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    F: Fn(&Request<B>) -> Option<String> + Clone + Send + Sync + 'static,
    B: Send + 'static,
    R: Default + Send,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let key = (self.layer.key)(&request).unwrap_or_else(|| UNKNOWN.to_owned());
        let limit = Arc::clone(&self.layer.limit);
        let cache = self.layer.cache.clone();
        // The clone that was made ready is the one called (tower's usual swap).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let decision = match &cache {
                Some(cache) => limit.check_in(cache, key.as_str()).await,
                None => limit.check(key.as_str()).await,
            };
            if !decision.allowed {
                let mut response = Response::new(R::default());
                *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                headers(response.headers_mut(), &decision);
                return Ok(response);
            }
            let mut response = inner.call(request).await?;
            headers(response.headers_mut(), &decision);
            Ok(response)
        })
    }
}

/// Whole seconds, rounded up: a client that waits this long finds the window over.
fn seconds(duration: std::time::Duration) -> u64 {
    duration.as_millis().div_ceil(1000) as u64
}

fn headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert(
        "ratelimit-reset",
        HeaderValue::from(seconds(decision.reset)),
    );
    if let Some(retry_after) = decision.retry_after {
        headers.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from(seconds(retry_after)),
        );
    }
}

/// The client's IP: the first address of `X-Forwarded-For`, else the peer address axum records
/// with `into_make_service_with_connect_info::<SocketAddr>()`. Trust `X-Forwarded-For` only
/// behind a proxy that sets it; a client can write any value there itself.
pub fn client_ip<B>(request: &Request<B>) -> Option<String> {
    let forwarded = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .map(str::trim)
        .filter(|ip| !ip.is_empty());
    if let Some(ip) = forwarded {
        return Some(ip.to_owned());
    }
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string())
}
