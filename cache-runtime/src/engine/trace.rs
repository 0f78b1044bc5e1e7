//! Spans of cache operations: `cache.get_or_set` around each `#[cached]` call (the function's
//! own spans nest inside it), `cache.refresh`, `cache.put`, `cache.evict` and
//! `cache.invalidate`. Each has `policy` and `function` where there is one, and an `outcome`
//! recorded once known; the key only when `TRACE` is enabled, never a value or a tenant id.
//! `HIT` and `MISS` events at `DEBUG` sit inside the call's span.
//!
//! Spans are at `DEBUG`: with no subscriber, or one that filters `DEBUG` out, `debug_span!`
//! costs a check of the callsite's cached interest and yields a disabled span, on which
//! `record`, `enter` and `clone` do nothing; field values are not even evaluated.

use std::future::Future;

use tracing::field::Empty;
use tracing::{Instrument, Level, Span};

use super::invalidate::InvalidateError;
use super::site::Site;

/// What became of a `#[cached]` call, as its span's `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered from the cache.
    Hit,
    /// Computed (or waited for) after a lookup that found nothing usable.
    Miss,
    /// The function failed and a copy past its TTL was served (`stale_if_error`).
    Stale,
    /// The store was unreachable (or the breaker open): the function ran, nothing was written.
    Fallback,
    /// The call skipped the cache by rule (no cache, caching disabled, no tenant for a
    /// `require_tenant` function, an argument that cannot be a key, a generic `Result`).
    Bypass,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Stale => "stale",
            Outcome::Fallback => "fallback",
            Outcome::Bypass => "bypass",
        }
    }
}

/// The span of one `#[cached]` call.
#[inline]
pub(crate) fn get_or_set(site: &'static Site) -> Span {
    tracing::debug_span!(
        "cache.get_or_set",
        policy = site.label(),
        function = site.path(),
        outcome = Empty,
        key = Empty,
    )
}

/// The span of a background refresh (`refresh_ahead`).
pub(crate) fn refresh(site: &'static Site) -> Span {
    tracing::debug_span!(
        "cache.refresh",
        policy = site.label(),
        function = site.path()
    )
}

/// The span of a `#[cache_put]` or `CacheEntry::put`.
pub(crate) fn put(site: &'static Site) -> Span {
    tracing::debug_span!("cache.put", policy = site.label(), function = site.path())
}

/// The span of a `#[cache_evict]`.
pub(crate) fn evict(site: &'static Site) -> Span {
    tracing::debug_span!(
        "cache.evict",
        policy = site.label(),
        function = site.path(),
        outcome = Empty,
    )
}

/// Records `outcome` on `span` (nothing on a disabled span).
#[inline]
pub(crate) fn record(span: &Span, outcome: Outcome) {
    span.record("outcome", outcome.as_str());
}

/// Records `key` on `span`, only when `TRACE` is enabled: keys hold argument values.
#[inline]
pub(crate) fn record_key(span: &Span, key: &str) {
    if !span.is_disabled() && tracing::enabled!(Level::TRACE) {
        span.record("key", key);
    }
}

/// Runs an invalidation in a `cache.invalidate` span whose `outcome` is `done`, `queued` (kept
/// for replay) or `failed`; `scope` says what is invalidated (`key`, `function`, `policy`,
/// `tenant`, `tag`, `purge`).
pub(crate) async fn invalidation<T>(
    scope: &'static str,
    work: impl Future<Output = Result<T, InvalidateError>>,
) -> Result<T, InvalidateError> {
    let span = tracing::debug_span!("cache.invalidate", scope, outcome = Empty);
    let result = work.instrument(span.clone()).await;
    span.record(
        "outcome",
        match &result {
            Ok(_) => "done",
            Err(error) if error.is_queued() => "queued",
            Err(_) => "failed",
        },
    );
    result
}
