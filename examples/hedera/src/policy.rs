//! The service's TTL policies (the seed's table), each overridable at start-up with
//! `CACHE_TTL_<VARIANT>`, e.g. `CACHE_TTL_EXCHANGE_RATE=60`.

use cache_runtime::TtlPolicy;

/// How long each kind of entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, TtlPolicy)]
pub enum HederaPolicy {
    /// A user's session: 30 days, renewed by activity (`touch`).
    #[ttl("30d")]
    Session,
    /// The HBAR price in one fiat currency.
    #[ttl("5m")]
    ExchangeRate,
    /// A utility's tariff in one country.
    #[ttl("1h")]
    Tariff,
}
