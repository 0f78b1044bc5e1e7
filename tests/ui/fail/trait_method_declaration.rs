use cache_runtime::{cached, Policy};

trait Quotes {
    #[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
    async fn quote(&self, ticker: &str) -> Option<u64>;
}

fn main() {}
