use std::collections::HashMap;

use cache_runtime::cached;

#[cached(batch = ticker, key = "quote:{ticker}", ttl = "1m", lock, stale_if_error = "1h")]
async fn quotes(tickers: Vec<String>) -> HashMap<String, f64> {
    tickers.into_iter().map(|t| (t, 1.0)).collect()
}

fn main() {
    let _ = quotes(Vec::new());
}
