//! Runs one path with many concurrent callers and times every call.
//!
//! A path is a name, the cache to install before it runs (for `#[cached]` paths) and an async
//! closure from a key id to "did the call return the value". Callers are tokio tasks on the one
//! worker thread; each loops until the window closes. Every call is timed with `Instant` (a few
//! tens of ns, the same for every path, as is the boxing of the closure's future).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::Cache;

use super::body_runs;

/// Distinct hot keys: hits cycle through them.
pub(crate) const HOT_KEYS: u64 = 10_000;
/// Ids from here on are never filled before they are asked for: every one is a miss.
const FRESH_BASE: u64 = 1_000_000_000;
static NEXT_FRESH: AtomicU64 = AtomicU64::new(FRESH_BASE);

type BoxedCall = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// One way of getting the value: one row per number of callers in each table.
pub(crate) struct Path {
    pub(crate) name: &'static str,
    cache: Option<Cache>,
    call: BoxedCall,
    /// How many calls, with ids from 0, [`fill`] makes to fill every hot key.
    fill_calls: u64,
    /// The most concurrent callers the path is measured with.
    max_callers: usize,
}

impl Path {
    /// `cache`: installed before the path runs (the `#[cached]` paths); `call(id)` gets the
    /// value for key id `id` and says whether it got it.
    pub(crate) fn new<F, Fut>(name: &'static str, cache: Option<&Cache>, call: F) -> Self
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Self {
            name,
            cache: cache.cloned(),
            call: Arc::new(move |id| Box::pin(call(id))),
            fill_calls: HOT_KEYS,
            max_callers: usize::MAX,
        }
    }

    /// A path measured with at most `callers` concurrent callers (its rows at more are left
    /// out).
    pub(crate) fn up_to(mut self, callers: usize) -> Self {
        self.max_callers = callers;
        self
    }

    /// Whether the path is measured with `callers` concurrent callers.
    pub(crate) fn runs_with(&self, callers: usize) -> bool {
        callers <= self.max_callers
    }

    /// A path whose call asks for `inputs` hot keys at once (ids `0..HOT_KEYS / inputs`
    /// between them ask for every hot key): [`fill`] makes only that many calls.
    pub(crate) fn per_call(mut self, inputs: u64) -> Self {
        self.fill_calls = HOT_KEYS.div_ceil(inputs.max(1));
        self
    }

    fn install(&self) {
        if let Some(cache) = &self.cache {
            cache.install();
        }
    }

    /// The store errors (timeouts, an open breaker, …) the path's cache has counted so far.
    fn store_errors(&self) -> u64 {
        self.cache.as_ref().map_or(0, |cache| {
            cache.stats().functions.values().map(|f| f.errors).sum()
        })
    }
}

/// Which key each call asks for.
#[derive(Clone, Copy)]
pub(crate) enum Keys {
    /// The hot keys in turn, all filled beforehand: every call is a hit.
    Hot,
    /// A key never asked for before: every call is a miss.
    Fresh,
}

/// The measurement window of one run: calls started during `warm_up` are not counted.
#[derive(Clone, Copy)]
pub(crate) struct Window {
    pub(crate) warm_up: Duration,
    pub(crate) measured: Duration,
}

/// What one run of one path measured.
#[derive(Clone, Copy)]
pub(crate) struct Run {
    pub(crate) calls_per_sec: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    /// Calls that did not return the value.
    pub(crate) failures: u64,
    /// Times the function's body ran during the run (warm-up included).
    pub(crate) body_runs: u64,
    /// Store errors the path's cache counted during the run (warm-up included): calls that
    /// timed out or found the breaker open ran their function uncached.
    pub(crate) store_errors: u64,
}

/// `callers` tasks call the path in a loop for the window.
pub(crate) async fn steady(path: &Path, callers: usize, keys: Keys, window: Window) -> Run {
    path.install();
    let runs_before = body_runs();
    let errors_before = path.store_errors();
    let next_hot = Arc::new(AtomicU64::new(0));
    let from = Instant::now() + window.warm_up;
    let until = from + window.measured;
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let call = Arc::clone(&path.call);
            let next_hot = Arc::clone(&next_hot);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0;
                loop {
                    let id = match keys {
                        Keys::Hot => next_hot.fetch_add(1, Ordering::Relaxed) % HOT_KEYS,
                        Keys::Fresh => NEXT_FRESH.fetch_add(1, Ordering::Relaxed),
                    };
                    let started = Instant::now();
                    if started >= until {
                        break;
                    }
                    let ok = call(id).await;
                    if started >= from {
                        latencies.push(nanos(started.elapsed()));
                        failures += u64::from(!ok);
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let (latencies, failures) = gather(tasks).await;
    let calls = latencies.len();
    summarize(
        latencies,
        calls as f64 / window.measured.as_secs_f64(),
        failures,
        body_runs() - runs_before,
        path.store_errors() - errors_before,
    )
}

/// `callers` tasks each call the path once, all with the same key that nobody asked for before,
/// released together by a barrier once every one of them is running. Calls/s is `callers` over
/// the time from the release until the last call returned.
pub(crate) async fn stampede(path: &Path, callers: usize) -> Run {
    path.install();
    let runs_before = body_runs();
    let errors_before = path.store_errors();
    let id = NEXT_FRESH.fetch_add(1, Ordering::Relaxed);
    let barrier = Arc::new(tokio::sync::Barrier::new(callers));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let call = Arc::clone(&path.call);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                let called = Instant::now();
                let ok = call(id).await;
                (called, Instant::now(), u64::from(!ok))
            })
        })
        .collect();
    let mut calls = Vec::with_capacity(callers);
    for task in tasks {
        calls.push(task.await.expect("a caller task finished"));
    }
    let released = calls
        .iter()
        .map(|c| c.0)
        .min()
        .expect("at least one caller");
    let last = calls
        .iter()
        .map(|c| c.1)
        .max()
        .expect("at least one caller");
    let latencies = calls.iter().map(|c| nanos(c.1 - c.0)).collect();
    summarize(
        latencies,
        callers as f64 / (last - released).as_secs_f64(),
        calls.iter().map(|c| c.2).sum(),
        body_runs() - runs_before,
        path.store_errors() - errors_before,
    )
}

type Task = tokio::task::JoinHandle<(Vec<u32>, u64)>;

async fn gather(tasks: Vec<Task>) -> (Vec<u32>, u64) {
    let mut all = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (latencies, failed) = task.await.expect("a caller task finished");
        all.extend(latencies);
        failures += failed;
    }
    (all, failures)
}

fn summarize(
    mut latencies: Vec<u32>,
    calls_per_sec: f64,
    failures: u64,
    body_runs: u64,
    store_errors: u64,
) -> Run {
    Run {
        calls_per_sec,
        p50: percentile(&mut latencies, 0.50),
        p99: percentile(&mut latencies, 0.99),
        failures,
        body_runs,
        store_errors,
    }
}

fn percentile(latencies: &mut [u32], q: f64) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
    let (_, nth, _) = latencies.select_nth_unstable(rank);
    Duration::from_nanos(u64::from(*nth))
}

fn nanos(duration: Duration) -> u32 {
    u32::try_from(duration.as_nanos()).unwrap_or(u32::MAX)
}

/// Fills the hot keys through the path itself, so that its hits find them: 64 keys at a time
/// (for a path that asks for many keys per call, fewer callers), few enough for the writes to
/// stay within the store's timeouts.
pub(crate) async fn fill(path: &Path) {
    path.install();
    let fill_calls = path.fill_calls;
    let fillers = (64 * fill_calls / HOT_KEYS).max(1);
    let errors_before = path.store_errors();
    let tasks: Vec<_> = (0..fillers)
        .map(|first| {
            let call = Arc::clone(&path.call);
            tokio::spawn(async move {
                let mut failures = 0;
                for id in (first..fill_calls).step_by(fillers as usize) {
                    failures += u64::from(!call(id).await);
                }
                (Vec::new(), failures)
            })
        })
        .collect();
    let (_, failures) = gather(tasks).await;
    assert_eq!(failures, 0, "{}: filling the hot keys failed", path.name);
    let errors = path.store_errors() - errors_before;
    if errors > 0 {
        println!(
            "{}: {errors} store error(s) while filling the hot keys (some may be misses).",
            path.name
        );
    }
}
