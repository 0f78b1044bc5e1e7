use cache_runtime::{cache_evict, cache_put, cached, Policy};

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
async fn quote(ticker: &str) -> Result<f64, String> {
    Ok(ticker.len() as f64)
}

// A put under another key than the function reads would never be served.
#[cache_put(function = quote, key = "quotes:{ticker}")]
async fn set_quote(ticker: &str, price: f64) -> Result<f64, String> {
    let _ = ticker;
    Ok(price)
}

#[cache_evict(function = quote, key = "quote:{ticker}:x")]
async fn drop_quote(ticker: &str) -> Result<(), String> {
    let _ = ticker;
    Ok(())
}

fn main() {}
