//! The service's TTL policies: `CACHE_TTL_COIN_DATA` and `CACHE_TTL_TOKENOMICS` (seconds, or a
//! duration such as `5m`) override them at start-up, as in the seed's `config.py`.

use cache_runtime::TtlPolicy;

/// How long coin data may be served from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, TtlPolicy)]
pub enum CryptoPolicy {
    /// Price, market cap, volume: `CACHE_TTL_COIN_DATA`, default 5 minutes.
    #[ttl("5m")]
    CoinData,
    /// Supply figures: `CACHE_TTL_TOKENOMICS`, default 10 minutes.
    #[ttl("10m")]
    Tokenomics,
}
