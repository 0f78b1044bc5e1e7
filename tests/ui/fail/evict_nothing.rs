use cache_runtime::cache_evict;

#[cache_evict(version = 2)]
async fn update(ticker: &str) -> Result<(), String> {
    let _ = ticker;
    Ok(())
}

#[cache_evict(key = "quote:{ticker}", ttl = "5m", lock)]
async fn update_with_cached_options(ticker: &str) -> Result<(), String> {
    let _ = ticker;
    Ok(())
}

fn main() {}
