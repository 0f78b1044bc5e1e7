use cache_runtime::{cache_put, cached};

#[cached(key = "quote:{ticker}", ttl = "5m", codec = "msgpack")]
async fn quote(ticker: &str) -> Result<f64, String> {
    Ok(ticker.len() as f64)
}

// The codec is the cached function's: restating it could only disagree.
#[cache_put(function = quote, key = "quote:{ticker}", codec = "msgpack")]
async fn set_quote(ticker: &str, price: f64) -> Result<f64, String> {
    let _ = ticker;
    Ok(price)
}

fn main() {}
