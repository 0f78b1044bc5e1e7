// `refresh_ahead` recomputes after the caller returned, so it refuses borrowed arguments; a
// `&'static` one outlives every caller and is accepted.
use cache_runtime::{cached, CacheBuilder};

#[cached(key = "name:{code}:{scale}", ttl = "1m", refresh_ahead = 0.8)]
async fn name(code: &'static str, scale: &'static [u32]) -> String {
    format!("{}{}", code.to_uppercase(), scale.len())
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(name("usd", &[1, 2])).await, "USD2");
    assert_eq!(cache.scope(name("usd", &[1, 2])).await, "USD2");
}
