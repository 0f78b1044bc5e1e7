use cache_runtime::{cached, Policy};

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

fn main() {
    let _ = quote("7203");
}
