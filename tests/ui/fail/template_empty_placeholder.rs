use cache_runtime::{cached, Policy};

#[cached(key = "quote:{}", ttl = Policy::StockPrice)]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

fn main() {
    let _ = quote("7203");
}
