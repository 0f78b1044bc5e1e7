//! Warming: calling a cached function for many inputs ahead of demand, a few at a time.
//!
//! The calls run concurrently in the caller's task (not spawned), so they use the cache and the
//! tenant scope in use where [`warm`] is awaited, and at most `concurrency` of them are in flight.

use std::future::Future;

use futures_util::stream::{self, StreamExt};

/// What [`warm`] did, and what its progress callback is given after each input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warmed {
    /// Inputs whose call has completed, failed ones included.
    pub done: usize,
    /// Of those, the calls that returned an `Err` or `None` (nothing was stored for them).
    pub failed: usize,
}

/// A call's result as warming sees it: did it fail? `Err` and `None` did, `()` did not. A
/// function returning a plain value is warmed through a closure giving `()` or `Some(value)`.
pub trait WarmOutcome {
    /// Whether the call failed (and so stored nothing).
    fn failed(&self) -> bool;
}

impl<T, E> WarmOutcome for Result<T, E> {
    fn failed(&self) -> bool {
        self.is_err()
    }
}

impl<T> WarmOutcome for Option<T> {
    fn failed(&self) -> bool {
        self.is_none()
    }
}

impl WarmOutcome for () {
    fn failed(&self) -> bool {
        false
    }
}

/// Calls `call` for each input, at most `concurrency` at a time (at least one), and counts what
/// completed and what failed. Pass `call` the `#[cached]` function itself to fill the cache
/// where entries are missing, or its companion's
/// [`refresh_with`](crate::CacheEntry::refresh_with) to recompute entries that are there;
/// [`Cache::popular`](crate::Cache::popular) gives the keys most worth warming.
///
/// ```
/// use cache_runtime::{cached, warm, Warmed};
///
/// #[cached(key = "quote:{ticker}", ttl = "5m")]
/// async fn quote(ticker: String) -> Result<f64, String> {
///     ticker.parse().map_err(|_| format!("not a number: {ticker}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_runtime::ConfigError> {
/// let cache = cache_runtime::CacheBuilder::new().build().await?;
/// cache.scope(async {
///     let tickers = ["7203", "6758", "n/a"].map(String::from);
///     let warmed = warm(tickers, 2, |ticker| quote(ticker)).await;
///     assert_eq!((warmed.done, warmed.failed), (3, 1));
///     assert_eq!(quote_cache("7203".into()).peek().await, Some(Ok(7203.0)));
/// }).await;
/// # Ok(()) }
/// ```
pub async fn warm<I, F, Fut>(
    inputs: impl IntoIterator<Item = I>,
    concurrency: usize,
    call: F,
) -> Warmed
where
    F: FnMut(I) -> Fut,
    Fut: Future,
    Fut::Output: WarmOutcome,
{
    warm_with_progress(inputs, concurrency, call, |_| {}).await
}

/// [`warm`], calling `progress` with the counts so far after each input completes (e.g. to log
/// every hundredth).
///
/// ```
/// # use cache_runtime::{cached, warm_with_progress};
/// # #[cached(key = "square:{n}", ttl = "5m")]
/// # async fn square(n: u64) -> Option<u64> { n.checked_mul(n) }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut seen = Vec::new();
/// let warmed = warm_with_progress(1..=3, 2, square, |p| seen.push(p.done)).await;
/// assert_eq!((warmed.done, warmed.failed, seen), (3, 0, vec![1, 2, 3]));
/// # }
/// ```
pub async fn warm_with_progress<I, F, Fut>(
    inputs: impl IntoIterator<Item = I>,
    concurrency: usize,
    call: F,
    mut progress: impl FnMut(Warmed),
) -> Warmed
where
    F: FnMut(I) -> Fut,
    Fut: Future,
    Fut::Output: WarmOutcome,
{
    let mut calls = stream::iter(inputs)
        .map(call)
        .buffer_unordered(concurrency.max(1));
    let mut warmed = Warmed::default();
    while let Some(outcome) = calls.next().await {
        warmed.done += 1;
        warmed.failed += usize::from(outcome.failed());
        progress(warmed);
    }
    warmed
}
