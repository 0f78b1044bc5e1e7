use cache_runtime::cached;

#[cached(key = "quote:{ticker}", ttl = "0s")]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

fn main() {
    let _ = quote("7203");
}
