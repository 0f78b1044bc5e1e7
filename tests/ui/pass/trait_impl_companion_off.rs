// An associated function of a trait implementation cannot have sibling items: with
// `companion = false` the attribute emits none. `companion = name` renames the companion.
use cache_runtime::{cached, CacheBuilder};

trait Rates {
    async fn rate(base: String) -> u64;
}

struct Fixed;

impl Rates for Fixed {
    #[cached(key = "rate:{base}", ttl = "5m", companion = false)]
    async fn rate(base: String) -> u64 {
        base.len() as u64
    }
}

#[cached(key = "quote:{ticker}", ttl = "5m", companion = quote_entry)]
async fn quote(ticker: &str) -> u64 {
    ticker.len() as u64
}

/// Would clash with the default companion of `quote`.
#[allow(dead_code)]
fn quote_cache() {}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(Fixed::rate("USD".to_owned())).await, 3);
    assert_eq!(cache.scope(quote("7203")).await, 4);
    let peeked = cache.scope(async { quote_entry("7203").peek().await }).await;
    assert_eq!(peeked, Some(4));
}
