use cache_runtime::{cached, CacheBuilder, Policy};

#[derive(Debug, Clone, PartialEq)]
struct FetchError(String);

type FetchResult<T> = Result<T, FetchError>;

#[cached(key = "price:{ticker}", ttl = Policy::StockPrice)]
async fn price(ticker: &str) -> FetchResult<u64> {
    let parsed: u64 = ticker.parse().map_err(|_| FetchError(ticker.to_owned()))?;
    Ok(parsed * 2)
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(price("21")).await, Ok(42));
    assert_eq!(
        cache.scope(price("x")).await,
        Err(FetchError("x".to_owned()))
    );
}
