//! A forced recomputation of one entry ([`CacheEntry::refresh_with`](crate::CacheEntry)): while
//! its future runs, the get-or-set of that one key skips the entry it finds and computes and
//! stores as on a miss. Calls of other keys (the function's own calls of other cached
//! functions) are served as usual.
//!
//! The key travels in a task-local, since the call that reaches the engine is the user's own
//! call of the function, made inside the refresh's future. A process-wide count of running
//! refreshes keeps the cost for every other call to one relaxed load.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Refreshes running in this process, in any task.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

struct Forced {
    key: String,
    /// Whether a get-or-set of `key` has run: then it stored the result itself.
    taken: Cell<bool>,
}

tokio::task_local! {
    static FORCED: Forced;
}

/// Decrements [`RUNNING`] however the refresh ends (completed, cancelled or panicked).
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `future` with `key` forced; also returns whether a get-or-set of `key` ran in it.
pub(crate) async fn run<F: Future>(key: String, future: F) -> (F::Output, bool) {
    RUNNING.fetch_add(1, Ordering::Relaxed);
    let _running = Running;
    let forced = Forced {
        key,
        taken: Cell::new(false),
    };
    let (output, forced) = FORCED
        .scope(forced, async {
            let output = future.await;
            let taken = FORCED.with(|forced| forced.taken.get());
            (output, taken)
        })
        .await;
    (output, forced)
}

/// Whether the get-or-set of `key` must recompute it; the first such call takes the refresh.
#[inline]
pub(crate) fn take(key: &str) -> bool {
    if RUNNING.load(Ordering::Relaxed) == 0 {
        return false;
    }
    FORCED
        .try_with(|forced| forced.key == key && !forced.taken.replace(true))
        .unwrap_or(false)
}
