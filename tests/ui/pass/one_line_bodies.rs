// The expansion adds no warning to any body: one-line bodies (`{ x }`, `{ fetch(x).await }`),
// empty bodies, early returns, methods, and the companion attributes.
#![deny(warnings)]

use cache_runtime::{cache_evict, cache_put, cached, CacheBuilder};

async fn fetch(x: u32) -> u32 {
    x * 2
}

#[cached(key = "value:{x}", ttl = "1m")]
async fn value(x: u32) -> u32 { x }

#[cached(key = "fetched:{x}", ttl = "1m")]
async fn fetched(x: u32) -> u32 { fetch(x).await }

#[cached(ttl = "1m")]
async fn derived(x: u32) -> Option<u32> { Some(x) }

#[cached(key = "nothing:{x}", ttl = "1m")]
async fn nothing(x: u32) {}

#[cached(key = "early:{x}", ttl = "1m")]
async fn early(x: u32) -> Result<u32, String> { if x == 0 { return Err("zero".into()) } Ok(x) }

#[cached(key = "refreshed:{x}", ttl = "1m", refresh_ahead = 0.5)]
async fn refreshed(x: u32) -> u32 { x }

#[cache_put(function = value, key = "value:{x}")]
async fn put_value(x: u32) -> u32 { x }

#[cache_evict(key = "value:{x}")]
async fn evict_value(x: u32) -> Result<(), String> { Ok(()) }

struct Counter {
    n: u32,
}

impl Counter {
    #[cached(key = "counter:{self.n}", ttl = "1m")]
    async fn get(&self) -> u32 { self.n }
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    cache
        .scope(async {
            assert_eq!(value(1).await, 1);
            assert_eq!(fetched(2).await, 4);
            assert_eq!(derived(3).await, Some(3));
            nothing(4).await;
            assert_eq!(early(0).await, Err("zero".to_owned()));
            assert_eq!(refreshed(6).await, 6);
            assert_eq!(put_value(7).await, 7);
            assert_eq!(evict_value(7).await, Ok(()));
            assert_eq!(Counter { n: 8 }.get().await, 8);
        })
        .await;
}
