use cache_runtime::{cached, Policy};

#[derive(Debug, Clone)]
struct FetchError;

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
async fn quote(ticker: &str) -> Result<u64, FetchError> {
    let price: u64 = ticker.parse()?;
    Ok(price)
}

fn main() {
    let _ = quote("7203");
}
