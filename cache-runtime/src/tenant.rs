//! Tenant scopes: every entry written inside `scope(id, …)` carries that tenant's key segment.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use cache_runtime::tenant;
//!
//! let seen = tenant::scope("tenant-001", async { tenant::current() }).await;
//! assert_eq!(seen.as_deref(), Some("tenant-001"));
//! assert_eq!(tenant::current(), None);
//! # }
//! ```
//!
//! Tenant ids are data: any string is a valid id (`*`, `:`, the empty string, kilobytes of
//! text) and is escaped in keys, so no id can reach another tenant's entries.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static TENANT: Arc<str>;
}

/// Runs `future` with `tenant` as the current tenant. Scopes nest: the innermost wins.
///
/// The scope is task-local: a task spawned inside it does not inherit it; wrap the spawned
/// future in its own `scope` if it should.
pub async fn scope<F: Future>(tenant: impl Into<Arc<str>>, future: F) -> F::Output {
    TENANT.scope(tenant.into(), future).await
}

/// The tenant of the current scope, if any.
pub fn current() -> Option<Arc<str>> {
    TENANT.try_with(Arc::clone).ok()
}

/// Calls `f` with the current tenant id, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&str>) -> R) -> R {
    match TENANT.try_with(Arc::clone) {
        Ok(tenant) => f(Some(&tenant)),
        Err(_) => f(None),
    }
}
