//! The service's own TTL policies, declared the way `cache_runtime::Policy` is.

use cache_runtime::TtlPolicy;

/// How long each dashboard panel may be served from the cache.
///
/// Each variant's name in `snake_case` labels its counters in `/api/v1/cache/metrics` and names
/// its start-up override: `CACHE_TTL_DASHBOARD_KPIS=120` (seconds) replaces the one-minute TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, TtlPolicy)]
pub enum DashboardPolicy {
    /// Headline figures: fresh enough at a minute, and the most requested panel.
    #[ttl("1m")]
    DashboardKpis,
    /// Daily series over weeks: today's point moves slowly.
    #[ttl("10m")]
    DashboardTrends,
    /// The activity feed: users expect to see their own actions soon.
    #[ttl("30s")]
    RecentActivity,
}
