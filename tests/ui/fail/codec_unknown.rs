use cache_runtime::cached;

#[cached(key = "quote:{ticker}", ttl = "5m", codec = "protobuf")]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

// A codec's name without quotes.
#[cached(key = "news:{ticker}", ttl = "5m", codec = msgpack)]
async fn news(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

fn main() {
    let _ = quote("7203");
    let _ = news("7203");
}
