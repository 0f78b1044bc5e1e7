use cache_runtime::{cached, Policy};

#[cached(key = "tickers:{market}", ttl = Policy::MarketData)]
async fn tickers(market: &str) -> impl Iterator<Item = String> {
    vec![market.to_owned()].into_iter()
}

fn main() {
    let _ = tickers("tse");
}
