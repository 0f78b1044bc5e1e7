use cache_runtime::{cached, Policy};

struct Quote {
    price: u64,
}

#[cached(key = "quotes:{ticker}", ttl = Policy::StockPrice)]
async fn quotes(ticker: &str) -> Option<Vec<Quote>> {
    Some(vec![Quote {
        price: ticker.len() as u64,
    }])
}

fn main() {
    let _ = quotes("7203");
}
