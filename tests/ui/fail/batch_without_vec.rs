use std::collections::HashMap;

use cache_runtime::cached;

#[cached(batch = ticker, key = "quote:{ticker}", ttl = "1m")]
async fn quotes(tickers: String) -> HashMap<String, f64> {
    HashMap::from([(tickers, 1.0)])
}

#[cached(batch = ticker, key = "quote:{ticker}", ttl = "1m")]
async fn listed(tickers: Vec<String>) -> Vec<f64> {
    tickers.iter().map(|_| 1.0).collect()
}

fn main() {
    let _ = quotes(String::new());
    let _ = listed(Vec::new());
}
