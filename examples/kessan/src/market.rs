//! The cached reads, each tagged with its ticker so that `POST /api/v1/tickers/{ticker}/invalidate`
//! drops all of them at once, and their routes.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use cache_runtime::{cached, CacheEntry, Tag};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::policy::KessanPolicy;
use crate::provider::{figure, ProviderError};
use crate::{AppState, Market};

/// The most tickers one batch request may name.
pub const MAX_BATCH: usize = 50;

/// The latest price of a ticker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StockPrice {
    /// Upper case, e.g. `7203`.
    pub ticker: String,
    /// Last close.
    pub close: f64,
    /// Shares traded.
    pub volume: u64,
}

/// The latest price (5 min).
#[cached(key = "stock_price:{ticker:upper}:latest", ttl = KessanPolicy::StockPrice, tags = ["ticker:{ticker:upper}"])]
pub async fn stock_price(market: &Market, ticker: &str) -> Result<StockPrice, ProviderError> {
    market.prices.call().await?;
    let ticker = ticker.to_uppercase();
    let seed = figure(&ticker);
    Ok(StockPrice {
        close: (1000.0 + seed * 9000.0).round(),
        volume: (seed * 1e7) as u64,
        ticker,
    })
}

/// A financial report (24 h).
#[cached(key = "financial_data:{ticker:upper}:{period}", ttl = KessanPolicy::FinancialData, tags = ["ticker:{ticker:upper}"])]
pub async fn financial_data(
    market: &Market,
    ticker: &str,
    period: &str,
) -> Result<Value, ProviderError> {
    market.financials.call().await?;
    let revenue = (figure(&format!("{ticker}{period}")) * 3e10).round();
    Ok(json!({"ticker": ticker.to_uppercase(), "period": period, "revenue": revenue}))
}

/// Recent news (1 h).
#[cached(key = "news_data:{ticker:upper}", ttl = KessanPolicy::NewsData, tags = ["ticker:{ticker:upper}"])]
pub async fn news(market: &Market, ticker: &str) -> Result<Value, ProviderError> {
    market.news.call().await?;
    Ok(
        json!({"ticker": ticker.to_uppercase(), "headlines": [format!("{} beats estimates", ticker.to_uppercase())]}),
    )
}

/// An AI analysis (6 h: expensive to generate).
#[cached(key = "ai_analysis:{ticker:upper}:{kind}", ttl = KessanPolicy::AiAnalysis, tags = ["ticker:{ticker:upper}"])]
pub async fn ai_analysis(
    market: &Market,
    ticker: &str,
    kind: &str,
) -> Result<Value, ProviderError> {
    market.analyst.call().await?;
    let score = figure(&format!("{ticker}:{kind}"));
    Ok(json!({"ticker": ticker.to_uppercase(), "kind": kind, "score": score}))
}

fn unavailable(error: ProviderError) -> ApiError {
    ApiError::unavailable(error.to_string())
}

/// `GET /api/v1/tickers/{ticker}/price`.
pub async fn get_price(
    State(state): State<AppState>,
    Path(ticker): Path<String>,
) -> Result<Json<StockPrice>, ApiError> {
    stock_price(state.market(), &ticker)
        .await
        .map(Json)
        .map_err(unavailable)
}

/// `GET /api/v1/tickers/{ticker}/financials?period=Q3` (default `latest`).
pub async fn get_financials(
    State(state): State<AppState>,
    Path(ticker): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let period = query.get("period").map_or("latest", String::as_str);
    financial_data(state.market(), &ticker, period)
        .await
        .map(Json)
        .map_err(unavailable)
}

/// `GET /api/v1/tickers/{ticker}/news`.
pub async fn get_news(
    State(state): State<AppState>,
    Path(ticker): Path<String>,
) -> Result<Json<Value>, ApiError> {
    news(state.market(), &ticker)
        .await
        .map(Json)
        .map_err(unavailable)
}

/// `GET /api/v1/tickers/{ticker}/analysis?kind=short_term` (the default).
pub async fn get_analysis(
    State(state): State<AppState>,
    Path(ticker): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let kind = query.get("kind").map_or("short_term", String::as_str);
    ai_analysis(state.market(), &ticker, kind)
        .await
        .map(Json)
        .map_err(unavailable)
}

/// `POST /api/v1/tickers/{ticker}/invalidate`: drops every entry tagged `ticker:<TICKER>`.
pub async fn invalidate(
    State(state): State<AppState>,
    Path(ticker): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ticker = ticker.to_uppercase();
    let tag = Tag::new("ticker").with(&ticker);
    match state.cache().invalidate_tag(None, &tag).await {
        Ok(deleted) => Ok(Json(json!({"ticker": ticker, "invalidated": deleted}))),
        Err(error) => Err(ApiError::unavailable(format!(
            "the cache could not invalidate: {error}"
        ))),
    }
}

/// `GET /api/v1/quotes?tickers=7203,6758`: one `MGET` for the cached prices, then a call per
/// ticker that missed (which caches it).
pub async fn get_quotes(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let tickers: Vec<&str> = query
        .get("tickers")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if tickers.is_empty() || tickers.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "name 1 to {MAX_BATCH} tickers: ?tickers=7203,6758"
        )));
    }
    let entries = tickers
        .iter()
        .map(|ticker| stock_price_cache(ticker))
        .collect();
    let cached = CacheEntry::peek_many(entries).await;
    let (mut quotes, mut from_cache) = (Vec::with_capacity(tickers.len()), 0);
    for (ticker, cached) in tickers.iter().zip(cached) {
        let price = match cached {
            Some(Ok(price)) => {
                from_cache += 1;
                Ok(price)
            }
            _ => stock_price(state.market(), ticker).await,
        };
        quotes.push(match price {
            Ok(price) => json!(price),
            Err(error) => json!({"ticker": ticker.to_uppercase(), "error": error.to_string()}),
        });
    }
    Ok(Json(json!({"quotes": quotes, "from_cache": from_cache})))
}
