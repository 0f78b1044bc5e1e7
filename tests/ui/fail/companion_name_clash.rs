// The companion `<name>_cache` clashes with an item of that name: the error points at the
// attribute that generates it (`companion = other_name` renames it).
use cache_runtime::cached;

#[cached(key = "quote:{ticker}", ttl = "5m")]
async fn quote(ticker: &str) -> u64 {
    ticker.len() as u64
}

fn quote_cache() {}

fn main() {
    quote_cache();
}
