use cache_runtime::{cached, Policy};

struct Ticker(String);

#[cached(ttl = Policy::StockPrice)]
async fn quote(ticker: Ticker) -> Option<u64> {
    ticker.0.parse().ok()
}

fn main() {
    let _ = quote(Ticker("7203".to_owned()));
}
