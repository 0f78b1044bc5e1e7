use cache_runtime::{cached, Policy};

#[cached(key = "quote", ttl = Policy::StockPrice)]
struct Quote {
    price: u64,
}

fn main() {}
