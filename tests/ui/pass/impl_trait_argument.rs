use cache_runtime::{cached, CacheBuilder};
use serde::Serialize;

#[cached(key = "greeting:{name}", ttl = "1m")]
async fn greeting(name: impl AsRef<str> + Serialize) -> String {
    format!("hello {}", name.as_ref())
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(greeting("ann")).await, "hello ann");
    assert_eq!(
        cache.scope(greeting(String::from("ann"))).await,
        "hello ann"
    );
}
