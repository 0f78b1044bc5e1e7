// A zero lease or stale window is refused with a hint about that option, not about turning the
// cache off.
use cache_runtime::cached;

#[cached(key = "quote:{ticker}", ttl = "5m", lock = "0s")]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

#[cached(key = "rate:{pair}", ttl = "5m", stale_if_error = "0ms")]
async fn rate(pair: &str) -> Result<u64, String> {
    pair.parse().map_err(|_| pair.to_owned())
}

fn main() {}
