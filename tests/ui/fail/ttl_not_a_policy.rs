use cache_runtime::cached;

enum Freshness {
    Minutes,
}

#[cached(key = "quote:{ticker}", ttl = Freshness::Minutes)]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

fn main() {
    let _ = quote("7203");
}
