use cache_runtime::{cached, CacheBuilder};

#[cached(key = "sum:{label}:{values}", ttl = "1m")]
async fn sum(label: &str, values: &[u32]) -> (String, u32) {
    (label.to_owned(), values.iter().sum())
}

#[cached(key = "len:{text}", ttl = "1m")]
async fn len<'a>(text: &'a str, _unused: &'a mut Vec<u8>) -> usize {
    text.len()
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(sum("a", &[1, 2, 3])).await, ("a".to_owned(), 6));
    assert_eq!(cache.scope(len("abc", &mut Vec::new())).await, 3);
}
