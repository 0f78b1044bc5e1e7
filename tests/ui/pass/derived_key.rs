use cache_runtime::{cached, CacheBuilder, Policy};

#[cached(ttl = Policy::NewsData)]
async fn headlines(topic: &str, limit: u8) -> Vec<String> {
    (0..limit).map(|i| format!("{topic} {i}")).collect()
}

#[cached(ttl = "1h")]
async fn no_arguments() -> u8 {
    1
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(headlines("rates", 2)).await.len(), 2);
    assert_eq!(cache.scope(no_arguments()).await, 1);
}
