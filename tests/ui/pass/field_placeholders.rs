use cache_runtime::{cached, CacheBuilder, Policy};
use serde::Serialize;

#[derive(Serialize)]
struct Account {
    id: u64,
    region: String,
}

#[derive(Serialize)]
struct Pair(String, String);

#[cached(key = "balance:{account.region}:{account.id}", ttl = Policy::UserSession)]
async fn balance(account: &Account) -> u64 {
    account.id * 10
}

#[cached(key = "rate:{pair.0}:{pair.1}", ttl = "90s")]
async fn rate(pair: Pair) -> Option<f64> {
    (pair.0 != pair.1).then_some(1.5)
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    let account = Account {
        id: 4,
        region: "jp".to_owned(),
    };
    assert_eq!(cache.scope(balance(&account)).await, 40);
    let pair = Pair("USD".to_owned(), "JPY".to_owned());
    assert_eq!(cache.scope(rate(pair)).await, Some(1.5));
}
