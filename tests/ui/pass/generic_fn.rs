use cache_runtime::{cached, CacheBuilder};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[cached(key = "echo:{value}", ttl = "1m")]
async fn echo<T>(value: T) -> Vec<T>
where
    T: Serialize + DeserializeOwned + Clone,
{
    vec![value.clone(), value]
}

#[cached(key = "describe:{value}", ttl = "1m")]
async fn describe<T: Serialize + std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(echo(7_u32)).await, vec![7, 7]);
    assert_eq!(cache.scope(describe(&"x")).await, "\"x\"");
}
