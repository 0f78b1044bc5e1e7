// A return type that is not `Send` and `Sync` is refused at the attribute, naming the type and
// why, instead of failing later at `tokio::spawn` with notes inside the runtime.
use std::cell::RefCell;
use std::error::Error;

use cache_runtime::cached;

#[cached(key = "quote:{ticker}", ttl = "5m")]
async fn quote(ticker: &str) -> Result<u64, Box<dyn Error>> {
    Ok(ticker.parse()?)
}

#[cached(key = "cell:{ticker}", ttl = "5m")]
async fn cell(ticker: &str) -> RefCell<u64> {
    RefCell::new(ticker.len() as u64)
}

fn main() {}
