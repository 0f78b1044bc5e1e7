use std::collections::HashMap;

use cache_runtime::{cached, CacheBuilder, Policy};

/// The element, another argument in the key, a tenant argument and a mutable batch.
#[cached(batch = ticker, key = "{market}:quote:{ticker}", ttl = Policy::StockPrice, tenant = account)]
async fn quotes(account: &str, market: &str, mut tickers: Vec<String>) -> HashMap<String, f64> {
    tickers.sort();
    let _ = account;
    tickers.into_iter().map(|t| (t, market.len() as f64)).collect()
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    let got = cache
        .scope(quotes("acme", "tse", vec!["7203".to_owned()]))
        .await;
    assert_eq!(got, HashMap::from([("7203".to_owned(), 3.0)]));
}
