// Fields and arguments named by Rust keywords (`r#type`, common in serde models) can be named in
// templates with or without `r#`.
#![deny(warnings)]

use cache_runtime::{cached, CacheBuilder};
use serde::Serialize;

#[derive(Serialize)]
struct Event {
    r#type: String,
    r#match: u32,
}

#[cached(key = "event:{event.type}:{event.r#match}", ttl = "1m")]
async fn describe(event: &Event) -> String {
    format!("{}/{}", event.r#type, event.r#match)
}

#[cached(key = "kind:{r#type}", tags = ["kind:{type}"], ttl = "1m")]
async fn kind(r#type: &str) -> usize {
    r#type.len()
}

#[cached(key = "kind_of:{type}:{event.r#type}", ttl = "1m", tenant = r#in)]
async fn kind_of(r#in: &str, r#type: u32, event: &Event) -> String {
    format!("{in}:{type}:{}", event.r#type, in = r#in, type = r#type)
}

#[cached(ttl = "1m")]
async fn derived(r#type: u32) -> u32 {
    r#type + 1
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    let event = Event {
        r#type: "trade".to_owned(),
        r#match: 7,
    };
    assert_eq!(cache.scope(describe(&event)).await, "trade/7");
    assert_eq!(cache.scope(kind("abc")).await, 3);
    assert_eq!(cache.scope(kind_of("acme", 2, &event)).await, "acme:2:trade");
    assert_eq!(cache.scope(derived(1)).await, 2);
    let key = cache.scope(async { kind_cache("abc").key() }).await;
    assert!(key.as_deref().is_some_and(|key| key.ends_with("kind:abc")), "{key:?}");
}
