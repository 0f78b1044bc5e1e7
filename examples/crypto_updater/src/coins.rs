//! The cached reads (`crypto:coin_data:{coin_id}`, `crypto:tokenomics:{coin_id}`, case-insensitive)
//! over the simulated provider, and the forced update that pre-warming and
//! `POST /api/update-cache` share.

use cache_runtime::cached;
use serde::{Deserialize, Serialize};

use crate::policy::CryptoPolicy;
use crate::provider::{figure, Provider, ProviderError};

/// The coins the simulated provider ranks by market cap.
pub const RANKED: [&str; 20] = [
    "bitcoin",
    "ethereum",
    "tether",
    "solana",
    "binancecoin",
    "ripple",
    "usd-coin",
    "cardano",
    "dogecoin",
    "tron",
    "avalanche-2",
    "polkadot",
    "chainlink",
    "toncoin",
    "shiba-inu",
    "litecoin",
    "bitcoin-cash",
    "uniswap",
    "stellar",
    "near",
];

/// Market figures of a coin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoinData {
    /// The provider's id, lower case.
    pub coin_id: String,
    /// USD price.
    pub price_usd: f64,
    /// USD market capitalisation.
    pub market_cap_usd: f64,
}

/// Supply figures of a coin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tokenomics {
    /// The provider's id, lower case.
    pub coin_id: String,
    /// Coins in circulation.
    pub circulating_supply: f64,
    /// The cap, if any.
    pub max_supply: Option<f64>,
}

/// The simulated market-data provider (CoinGecko in the seed).
#[derive(Debug)]
pub struct CoinProvider {
    /// Calls for coin data and tokenomics.
    pub coins: Provider,
    /// Calls for the popular list.
    pub rankings: Provider,
}

impl CoinProvider {
    /// Asks for the market figures of `coin_id`.
    pub async fn coin_data(&self, coin_id: &str) -> Result<CoinData, ProviderError> {
        self.coins.call().await?;
        let coin_id = coin_id.to_lowercase();
        let seed = figure(&coin_id);
        Ok(CoinData {
            // Moves a little with every call, as a market does: an update is visible.
            price_usd: ((seed * 1e5).round() + self.coins.calls() as f64) / 100.0,
            market_cap_usd: (seed * 1e12).round(),
            coin_id,
        })
    }

    /// Asks for the supply figures of `coin_id`.
    pub async fn tokenomics(&self, coin_id: &str) -> Result<Tokenomics, ProviderError> {
        self.coins.call().await?;
        let supply = (figure(&coin_id.to_lowercase()) * 1e9).round();
        Ok(Tokenomics {
            coin_id: coin_id.to_lowercase(),
            circulating_supply: supply,
            max_supply: (supply > 5e8).then_some(supply * 1.2),
        })
    }

    /// The `limit` coins with the largest market cap.
    pub async fn popular(&self, limit: usize) -> Result<Vec<String>, ProviderError> {
        self.rankings.call().await?;
        Ok(RANKED
            .iter()
            .take(limit)
            .map(|id| (*id).to_owned())
            .collect())
    }
}

/// Coin data, from the cache or the provider.
#[cached(key = "crypto:coin_data:{coin_id:lower}", ttl = CryptoPolicy::CoinData)]
pub async fn coin_data(provider: &CoinProvider, coin_id: &str) -> Result<CoinData, ProviderError> {
    provider.coin_data(coin_id).await
}

/// Tokenomics, from the cache or the provider.
#[cached(key = "crypto:tokenomics:{coin_id:lower}", ttl = CryptoPolicy::Tokenomics)]
pub async fn tokenomics(
    provider: &CoinProvider,
    coin_id: &str,
) -> Result<Tokenomics, ProviderError> {
    provider.tokenomics(coin_id).await
}

/// Asks the provider for both figures of `coin_id` whatever is cached and stores them (the
/// companions' `put`, with each policy's TTL). An entry is left as it was when its call fails.
pub async fn update_coin(provider: &CoinProvider, coin_id: &str) -> Result<(), ProviderError> {
    let data = provider.coin_data(coin_id).await;
    if data.is_ok() {
        coin_data_cache(coin_id).put(&data).await;
    }
    let supply = provider.tokenomics(coin_id).await;
    if supply.is_ok() {
        tokenomics_cache(coin_id).put(&supply).await;
    }
    data.and(supply).map(|_| ())
}
