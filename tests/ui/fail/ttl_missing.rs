use cache_runtime::cached;

#[cached(key = "quote:{ticker}")]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

fn main() {
    let _ = quote("7203");
}
