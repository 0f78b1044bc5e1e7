//! The workload both benchmarks measure: a stock analysis of 470 bytes of JSON, served by
//! one `#[cached]` function over a plain async function that computes it.
//!
//! A directory module, so that Cargo does not take it for a benchmark target of its own.

use cache_runtime::{cached, Policy};
use serde::{Deserialize, Serialize};

/// One model-generated analysis, shaped like what the dashboard example caches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockAnalysis {
    pub ticker: String,
    pub name: String,
    pub as_of: String,
    pub price: f64,
    pub change_pct: f64,
    pub volume: u64,
    pub market_cap: u64,
    pub pe_ratio: f64,
    pub rating: String,
    pub target_price: f64,
    pub summary: String,
    pub signals: Vec<Signal>,
    pub risks: Vec<String>,
}

/// One technical indicator behind the rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub name: String,
    pub value: f64,
    pub weight: f64,
}

/// The function without any cache: what every call costs when nothing is cached.
pub async fn compute_analysis(ticker: &str) -> Result<StockAnalysis, String> {
    Ok(StockAnalysis {
        ticker: ticker.to_owned(),
        name: "Toyota Motor".to_owned(),
        as_of: "2024-11-22T06:00:00Z".to_owned(),
        price: 2_648.5,
        change_pct: -1.27,
        volume: 23_418_900,
        market_cap: 41_254_000_000_000,
        pe_ratio: 7.41,
        rating: "outperform".to_owned(),
        target_price: 3_150.0,
        summary: "Margins held despite a strong yen; recalls weigh on guidance.".to_owned(),
        signals: vec![
            Signal {
                name: "rsi_14".to_owned(),
                value: 41.8,
                weight: 0.25,
            },
            Signal {
                name: "macd_histogram".to_owned(),
                value: -12.6,
                weight: 0.35,
            },
            Signal {
                name: "sma_cross".to_owned(),
                value: 0.031,
                weight: 0.4,
            },
        ],
        risks: vec!["currency".to_owned(), "recalls".to_owned()],
    })
}

/// The same function behind `#[cached]`: the subject of every benchmark.
#[cached(key = "analysis:{ticker}", ttl = Policy::AiAnalysis)]
pub async fn analysis(ticker: &str) -> Result<StockAnalysis, String> {
    compute_analysis(ticker).await
}

/// The key `analysis(ticker)` uses with the default prefix, outside any tenant scope (see the
/// key layout in the README); hand-written code reads the same entry through it.
pub fn stored_key(ticker: &str) -> String {
    format!("v1:_:analysis:{ticker}")
}
