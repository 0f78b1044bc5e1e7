use cache_runtime::{cached, Policy};

struct Client {
    region: String,
}

impl Client {
    #[cached(ttl = Policy::StockPrice)]
    async fn quote(&self, ticker: &str) -> Option<u64> {
        let _ = &self.region;
        ticker.parse().ok()
    }
}

fn main() {
    let client = Client {
        region: "jp".to_owned(),
    };
    let _ = client.quote("7203");
}
