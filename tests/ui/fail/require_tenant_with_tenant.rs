use cache_runtime::{cached, Policy};

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice, tenant = account, require_tenant)]
async fn quote(account: &str, ticker: &str) -> Option<u64> {
    let _ = account;
    ticker.parse().ok()
}

fn main() {
    let _ = quote("tenant-001", "7203");
}
