use cache_runtime::{cached, Policy};

#[cached(key = "quote:{request.}", ttl = Policy::StockPrice)]
async fn quote(request: &str) -> Option<u64> {
    request.parse().ok()
}

fn main() {
    let _ = quote("7203");
}
