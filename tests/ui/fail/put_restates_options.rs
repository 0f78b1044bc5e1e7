use cache_runtime::{cache_put, cached, Policy};

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice, version = 2)]
async fn quote(ticker: &str) -> Result<f64, String> {
    Ok(ticker.len() as f64)
}

// The TTL and version are the cached function's: restating them could only disagree.
#[cache_put(function = quote, key = "quote:{ticker}", ttl = Policy::StockPrice, version = 2)]
async fn set_quote(ticker: &str, price: f64) -> Result<f64, String> {
    let _ = ticker;
    Ok(price)
}

fn main() {}
