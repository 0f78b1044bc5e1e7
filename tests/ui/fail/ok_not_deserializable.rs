use cache_runtime::{cached, Policy};
use serde::Serialize;

#[derive(Serialize)]
struct Quote {
    price: u64,
}

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
async fn quote(ticker: &str) -> Result<Quote, String> {
    Ok(Quote {
        price: ticker.len() as u64,
    })
}

fn main() {
    let _ = quote("7203");
}
