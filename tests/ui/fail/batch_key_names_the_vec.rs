use std::collections::HashMap;

use cache_runtime::cached;

#[cached(batch = ticker, key = "quote:{tickers}", ttl = "1m")]
async fn quotes(tickers: Vec<String>) -> HashMap<String, f64> {
    tickers.into_iter().map(|t| (t, 1.0)).collect()
}

fn main() {
    let _ = quotes(Vec::new());
}
