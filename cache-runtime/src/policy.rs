//! TTL policies: named TTLs declared once, looked up per call, overridable at start-up.

use std::collections::HashMap;
use std::time::Duration;

/// A named time to live. Derive it for a fieldless enum, one `#[ttl("…")]` per variant:
///
/// ```
/// use cache_runtime::TtlPolicy;
///
/// #[derive(TtlPolicy)]
/// enum Ttl {
///     #[ttl("90s")]
///     ExchangeRate,
///     #[ttl("12h")]
///     CountryList,
/// }
///
/// assert_eq!(Ttl::ExchangeRate.name(), "exchange_rate");
/// assert_eq!(Ttl::CountryList.default_ttl().as_secs(), 12 * 3600);
/// ```
///
/// The name is the variant in `snake_case`. It labels the policy's counters and is the override
/// variable in upper case: `CACHE_TTL_EXCHANGE_RATE=30` (seconds) replaces the TTL at start-up.
/// Two enums with a variant of the same name share that name, its counters and its override;
/// their entries are invalidated apart ([`TtlPolicy::path`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a TTL policy",
    label = "`ttl = …` takes a variant of an enum deriving `TtlPolicy`, or a duration such as \"5m\"",
    note = "add `#[derive(cache_runtime::TtlPolicy)]` to the enum, with `#[ttl(\"5m\")]` on each variant"
)]
pub trait TtlPolicy: Sync {
    /// The policy's name in `snake_case`, e.g. `ai_analysis`.
    fn name(&self) -> &'static str;
    /// The TTL compiled into the policy, before any override.
    fn default_ttl(&self) -> Duration;
    /// The policy's identity: `my_crate::module::Enum::Variant` for a derived policy, so that two
    /// enums with a variant of the same name are invalidated apart. Defaults to [`name`].
    ///
    /// [`name`]: TtlPolicy::name
    fn path(&self) -> &'static str {
        self.name()
    }
}

/// The policies shipped with the runtime.
///
/// | variant | TTL |
/// |---|---|
/// | `StockPrice` | 5 min |
/// | `FinancialData` | 24 h |
/// | `NewsData` | 1 h |
/// | `AiAnalysis` | 6 h |
/// | `UserSession` | 30 min |
/// | `ApiQuota` | 24 h |
/// | `MarketData` | 5 min |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, cache_macros::TtlPolicy)]
#[non_exhaustive]
pub enum Policy {
    /// Quotes that move during the trading day.
    #[ttl("5m")]
    StockPrice,
    /// Statements and fundamentals, published at most daily.
    #[ttl("24h")]
    FinancialData,
    /// News feeds.
    #[ttl("1h")]
    NewsData,
    /// Expensive model output.
    #[ttl("6h")]
    AiAnalysis,
    /// Session lookups.
    #[ttl("30m")]
    UserSession,
    /// Per-day quota counters.
    #[ttl("24h")]
    ApiQuota,
    /// Market-wide figures such as indices.
    #[ttl("5m")]
    MarketData,
}

/// TTL overrides by policy name, set at start-up from `CACHE_TTL_<NAME>` or the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct TtlOverrides {
    by_name: HashMap<String, Duration>,
}

impl TtlOverrides {
    pub(crate) fn set(&mut self, name: &str, ttl: Duration) {
        self.by_name.insert(name.to_ascii_lowercase(), ttl);
    }

    pub(crate) fn ttl(&self, policy: &dyn TtlPolicy) -> Duration {
        if self.by_name.is_empty() {
            return policy.default_ttl();
        }
        self.by_name
            .get(policy.name())
            .copied()
            .unwrap_or_else(|| policy.default_ttl())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policies_match_the_documented_table() {
        let minutes = |p: Policy| p.default_ttl().as_secs() / 60;
        assert_eq!(minutes(Policy::StockPrice), 5);
        assert_eq!(minutes(Policy::FinancialData), 24 * 60);
        assert_eq!(minutes(Policy::NewsData), 60);
        assert_eq!(minutes(Policy::AiAnalysis), 6 * 60);
        assert_eq!(minutes(Policy::UserSession), 30);
        assert_eq!(minutes(Policy::ApiQuota), 24 * 60);
        assert_eq!(minutes(Policy::MarketData), 5);
        assert_eq!(Policy::AiAnalysis.name(), "ai_analysis");
    }

    #[test]
    fn an_override_replaces_only_its_policy() {
        let mut overrides = TtlOverrides::default();
        overrides.set("AI_ANALYSIS", Duration::from_secs(600));
        assert_eq!(overrides.ttl(&Policy::AiAnalysis), Duration::from_secs(600));
        assert_eq!(overrides.ttl(&Policy::NewsData), Duration::from_secs(3600));
    }
}
