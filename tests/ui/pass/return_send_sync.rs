// The thread-safe versions of the types `return_not_send` refuses, and a `Result` alias with
// `stale_if_error`: their futures can be spawned.
use std::error::Error;
use std::sync::Mutex;

use cache_runtime::{cached, CacheBuilder};

type Fallible<T> = Result<T, Box<dyn Error + Send + Sync>>;

#[cached(key = "quote:{ticker}", ttl = "5m", stale_if_error = "1h")]
async fn quote(ticker: &str) -> Fallible<u64> {
    Ok(ticker.parse()?)
}

#[cached(key = "locked:{ticker}", ttl = "5m")]
async fn locked(ticker: String) -> Mutex<u64> {
    Mutex::new(ticker.len() as u64)
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    let scoped = cache.clone();
    let spawned = tokio::spawn(async move { scoped.scope(quote("7")).await.ok() });
    assert_eq!(spawned.await.unwrap(), Some(7));
    let scoped = cache.clone();
    let spawned = tokio::spawn(async move { scoped.scope(locked("abc".to_owned())).await });
    assert_eq!(*spawned.await.unwrap().lock().unwrap(), 3);
}
