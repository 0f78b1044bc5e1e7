use cache_runtime::{cached, Policy};

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice, tenant = account)]
async fn quote(account: u64, ticker: &str) -> Option<u64> {
    let _ = account;
    ticker.parse().ok()
}

fn main() {
    let _ = quote(1, "7203");
}
