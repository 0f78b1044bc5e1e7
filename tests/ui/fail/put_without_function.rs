use cache_runtime::{cache_put, cached, Policy};

#[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
async fn quote(ticker: &str) -> Result<f64, String> {
    let _ = ticker;
    Ok(1.0)
}

#[cache_put(key = "quote:{ticker}")]
async fn set_quote(ticker: &str, price: f64) -> Result<f64, String> {
    let _ = ticker;
    Ok(price)
}

fn main() {}
