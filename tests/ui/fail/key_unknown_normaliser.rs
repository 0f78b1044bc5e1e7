use cache_runtime::{cached, Policy};

#[cached(key = "exchange_rate:{currency:lowercase}", ttl = Policy::MarketData)]
async fn exchange_rate(currency: &str) -> f64 {
    let _ = currency;
    1.0
}

fn main() {}
