// `crate = "path"`: the runtime reached through a re-export (or a renamed dependency).
#![deny(warnings)]

mod platform {
    pub use cache_runtime as cache;
}

use platform::cache::{cache_evict, cache_put, cached, CacheBuilder, Policy, TtlPolicy};

#[derive(TtlPolicy)]
#[ttl_policy(crate = "platform::cache")]
enum Ttl {
    #[ttl("1m")]
    Short,
}

#[cached(crate = "platform::cache", key = "quote:{ticker}", ttl = Policy::StockPrice, tags = ["t:{ticker}"])]
async fn quote(ticker: &str) -> Result<u64, String> {
    ticker.parse().map_err(|_| ticker.to_owned())
}

#[cached(crate = "platform::cache", ttl = Ttl::Short, tenant = account)]
async fn derived(account: &str, n: u32) -> Option<u32> {
    Some(n + account.len() as u32)
}

#[cache_put(crate = "crate::platform::cache", function = quote, key = "quote:{ticker}")]
async fn set_quote(ticker: &str, value: u64) -> Result<u64, String> {
    let _ = ticker;
    Ok(value)
}

#[cache_evict(crate = "platform::cache", function = quote)]
async fn reload() -> Result<(), String> {
    Ok(())
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    cache
        .scope(async {
            assert_eq!(set_quote("7203", 9).await, Ok(9));
            assert_eq!(quote("7203").await, Ok(9));
            assert_eq!(derived("acme", 1).await, Some(5));
            assert_eq!(reload().await, Ok(()));
            assert_eq!(quote("7203").await, Ok(7203));
            assert_eq!(quote_cache("7203").peek().await, Some(Ok(7203)));
        })
        .await;
}
