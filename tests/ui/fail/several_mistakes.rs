use cache_runtime::{cached, Policy};

// Every independent mistake is reported in one go.
#[cached(key = "quote:{tickr}:{market}", tenant = account)]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

// Option errors too: both bad options are reported, and `Policy` stays used.
#[cached(key = "price:{ticker}", ttl = Policy::StockPrice, expire = 60, version = "2")]
async fn price(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

fn main() {
    let _ = quote("7203");
    let _ = price("7203");
}
