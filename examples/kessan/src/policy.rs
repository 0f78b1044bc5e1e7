//! The seed's TTL table as a policy enum; each variant is overridable at start-up with
//! `CACHE_TTL_<VARIANT>` (`CACHE_TTL_AI_ANALYSIS=600`).

use cache_runtime::TtlPolicy;

/// How long each kind of data may be served from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, TtlPolicy)]
pub enum KessanPolicy {
    /// Real-time data needs frequent updates.
    #[ttl("5m")]
    StockPrice,
    /// Financial reports change infrequently.
    #[ttl("24h")]
    FinancialData,
    /// News updates regularly but not constantly.
    #[ttl("1h")]
    NewsData,
    /// Analysis is expensive to generate.
    #[ttl("6h")]
    AiAnalysis,
    /// Security and user experience balance.
    #[ttl("30m")]
    UserSession,
    /// Daily quota tracking.
    #[ttl("24h")]
    ApiQuota,
    /// Market indices update frequently.
    #[ttl("5m")]
    MarketData,
}
