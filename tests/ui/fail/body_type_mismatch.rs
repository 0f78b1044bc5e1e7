use cache_runtime::{cached, Policy};

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
async fn quote(ticker: &str) -> Option<u64> {
    Some(ticker)
}

fn main() {
    let _ = quote("7203");
}
