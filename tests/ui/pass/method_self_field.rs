use cache_runtime::{cached, CacheBuilder, Policy};

struct Client {
    region: String,
}

impl Client {
    #[cached(key = "quote:{self.region}:{ticker}", ttl = Policy::StockPrice)]
    async fn quote(&self, ticker: &str) -> Option<u64> {
        Some(ticker.len() as u64 + self.region.len() as u64)
    }
}

#[tokio::main]
async fn main() {
    let cache = CacheBuilder::new().build().await.unwrap();
    let client = Client {
        region: "jp".to_owned(),
    };
    assert_eq!(cache.scope(client.quote("7203")).await, Some(6));
}
