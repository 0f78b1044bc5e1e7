use cache_runtime::{cached, Policy};
use serde::Serialize;

#[derive(Serialize)]
struct Request {
    ticker: String,
}

#[cached(key = "quote:{request.tickr}", ttl = Policy::StockPrice)]
async fn quote(request: Request) -> Option<u64> {
    request.ticker.parse().ok()
}

fn main() {
    let _ = quote(Request {
        ticker: "7203".to_owned(),
    });
}
