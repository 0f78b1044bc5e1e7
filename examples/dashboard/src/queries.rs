//! The cached reads: one `#[cached]` function per dashboard panel, each over the [`Source`].
//!
//! They are tenant-scoped: call them inside `cache_runtime::tenant::scope(tenant, …)`, which puts
//! the tenant into the key (`v1:t=<tenant>:dashboard:kpis`) and is also where the body reads the
//! tenant it queries for, so the key and the data can never disagree. `require_tenant` makes a
//! call outside any scope skip the cache, and the body then answers [`QueryError::NoTenant`]
//! instead of querying: nothing is ever cached or computed for "no tenant".

use std::fmt;
use std::sync::Arc;

use cache_runtime::cached;

use crate::model::{Activity, Kpis, Trends};
use crate::policy::DashboardPolicy;
use crate::source::Source;

/// Why a panel could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// Called outside `tenant::scope`: there is no tenant to query for.
    NoTenant,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::NoTenant => f.write_str("dashboard queries run inside a tenant scope"),
        }
    }
}

impl std::error::Error for QueryError {}

/// The headline figures of the current tenant.
#[cached(key = "dashboard:kpis", ttl = DashboardPolicy::DashboardKpis, require_tenant)]
pub async fn kpis(source: &Source) -> Result<Kpis, QueryError> {
    let tenant = current_tenant()?;
    Ok(source.kpis(&tenant).await)
}

/// The last `days` days of the current tenant.
#[cached(key = "dashboard:trends:{days}", ttl = DashboardPolicy::DashboardTrends, require_tenant)]
pub async fn trends(source: &Source, days: u32) -> Result<Trends, QueryError> {
    let tenant = current_tenant()?;
    Ok(source.trends(&tenant, days).await)
}

/// The `limit` most recent events of the current tenant.
#[cached(key = "dashboard:activity:{limit}", ttl = DashboardPolicy::RecentActivity, require_tenant)]
pub async fn activity(source: &Source, limit: u32) -> Result<Activity, QueryError> {
    let tenant = current_tenant()?;
    Ok(source.activity(&tenant, limit).await)
}

fn current_tenant() -> Result<Arc<str>, QueryError> {
    cache_runtime::tenant::current().ok_or(QueryError::NoTenant)
}
