use cache_runtime::{cached, CacheBuilder};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The return type must be `Send + Sync` (and a type parameter in it `'static`), like the
/// cached part must be `Serialize` and `Deserialize`.
#[cached(key = "echo:{value}", ttl = "1m")]
async fn echo<T>(value: T) -> Vec<T>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    vec![value.clone(), value]
}

#[cached(key = "describe:{value}", ttl = "1m")]
async fn describe<T: Serialize + std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

/// A derived key holds the type and const parameters as well as the arguments.
#[cached(ttl = "1m")]
async fn batch<T: Serialize, const N: usize>(first: T) -> usize {
    let _ = first;
    N
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(echo(7_u32)).await, vec![7, 7]);
    assert_eq!(cache.scope(describe(&"x")).await, "\"x\"");
    assert_eq!(cache.scope(batch::<_, 3>(1_u8)).await, 3);
    assert_eq!(cache.scope(batch::<_, 4>(1_u8)).await, 4);
}
