//! Exchange rates (5 min, one entry per currency whatever its case, the fallback provider when
//! the primary fails) and tariffs (1 h, keyed by country and utility).

use axum::extract::{Path, State};
use axum::Json;
use cache_runtime::cached;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::policy::HederaPolicy;
use crate::provider::{figure, ProviderError};
use crate::{AppState, Providers};

/// The currencies the service prices HBAR in.
pub const CURRENCIES: [&str; 5] = ["EUR", "USD", "INR", "BRL", "NGN"];

/// The price of one HBAR in a fiat currency.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeRate {
    /// ISO code, upper case.
    pub currency: String,
    /// Price of 1 HBAR.
    pub hbar_price: f64,
    /// `coingecko`, or `coinmarketcap` when the primary failed.
    pub source: String,
}

/// A utility's tariff.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tariff {
    /// Upper-case country code.
    pub country_code: String,
    /// The utility, lower case.
    pub utility_provider: String,
    /// `flat`, `tiered`, `time_of_use` or `band_based`.
    pub rate_type: String,
    /// Price per kWh in the local currency.
    pub price_per_kwh: f64,
    /// VAT share.
    pub vat: f64,
}

/// The rate of `currency` (any case): the primary provider, else the fallback.
#[cached(key = "exchange_rate:{currency:upper}", ttl = HederaPolicy::ExchangeRate)]
pub async fn exchange_rate(
    providers: &Providers,
    currency: &str,
) -> Result<ExchangeRate, ProviderError> {
    let currency = currency.to_uppercase();
    let mut last_error = None;
    for provider in [&providers.coingecko, &providers.coinmarketcap] {
        match provider.call().await {
            Ok(()) => {
                return Ok(ExchangeRate {
                    hbar_price: 0.05 + figure(&currency) / 10.0,
                    currency,
                    source: provider.name().to_owned(),
                })
            }
            Err(error) => {
                tracing::warn!(%error, "rate provider failed; trying the next one");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| ProviderError {
        provider: "none".to_owned(),
        message: "no rate provider".to_owned(),
    }))
}

/// The tariff of `utility` in `country` (both case-insensitive).
#[cached(key = "tariff:{country:upper}:{utility:lower}", ttl = HederaPolicy::Tariff)]
pub async fn tariff(
    providers: &Providers,
    country: &str,
    utility: &str,
) -> Result<Tariff, ProviderError> {
    providers.tariffs.call().await?;
    let (country, utility) = (country.to_uppercase(), utility.to_lowercase());
    let seed = figure(&format!("{country}:{utility}"));
    Ok(Tariff {
        rate_type: ["flat", "tiered", "time_of_use", "band_based"][(seed * 4.0) as usize % 4]
            .to_owned(),
        price_per_kwh: 0.08 + seed / 5.0,
        vat: 0.21,
        country_code: country,
        utility_provider: utility,
    })
}

/// `GET /api/v1/rates/{currency}`.
pub async fn get_rate(
    State(state): State<AppState>,
    Path(currency): Path<String>,
) -> Result<Json<ExchangeRate>, ApiError> {
    if !CURRENCIES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(&currency))
    {
        return Err(ApiError::not_found(format!(
            "unknown currency `{currency}`; known: {}",
            CURRENCIES.join(", ")
        )));
    }
    exchange_rate(state.providers(), &currency)
        .await
        .map(Json)
        .map_err(|error| ApiError::unavailable(format!("every rate provider failed: {error}")))
}

/// `GET /api/v1/tariffs/{country}/{provider}`.
pub async fn get_tariff(
    State(state): State<AppState>,
    Path((country, utility)): Path<(String, String)>,
) -> Result<Json<Tariff>, ApiError> {
    tariff(state.providers(), &country, &utility)
        .await
        .map(Json)
        .map_err(|error| ApiError::unavailable(error.to_string()))
}
