use cache_runtime::{cached, Policy};

#[cached(key = "quote:{market}{ticker}", ttl = Policy::StockPrice)]
async fn quote(market: &str, ticker: &str) -> Option<u64> {
    let _ = market;
    ticker.parse().ok()
}

fn main() {
    let _ = quote("tse", "7203");
}
