use cache_runtime::{cached, Policy};

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice, tenant = account)]
async fn quote(tenant_id: &str, ticker: &str) -> Option<u64> {
    let _ = tenant_id;
    ticker.parse().ok()
}

fn main() {
    let _ = quote("tenant-001", "7203");
}
