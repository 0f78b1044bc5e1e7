// Braces have no escape in a key template: `{{` says so.
use cache_runtime::cached;

#[cached(key = "quote:{{ticker}}", ttl = "5m")]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

#[cached(key = "literal:{{braces}}:{ticker}", ttl = "5m")]
async fn literal(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

fn main() {}
