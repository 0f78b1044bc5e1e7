// `stale_if_error` serves the last value when the function returns `Err`: on a return type that
// is not a `Result` it would write a stale copy that is never served.
use cache_runtime::cached;

#[cached(key = "quote:{ticker}", ttl = "5m", stale_if_error = "1h")]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

#[cached(key = "count:{ticker}", ttl = "5m", stale_if_error = "1h")]
async fn count(ticker: &str) -> u64 {
    ticker.len() as u64
}

fn main() {}
