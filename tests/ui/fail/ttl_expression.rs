// `ttl` takes a policy variant or a duration string, not an expression: the message says so,
// and suggests the string for a `Duration` constructor with a literal.
use std::time::Duration;

use cache_runtime::cached;

#[cached(key = "quote:{ticker}", ttl = Duration::from_secs(5))]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

#[cached(key = "rate:{pair}", ttl = Duration::from_millis(250))]
async fn rate(pair: &str) -> Option<u64> {
    pair.parse().ok()
}

#[cached(key = "news:{topic}", ttl = Duration::from_secs(60 * 5))]
async fn news(topic: &str) -> Option<u64> {
    topic.parse().ok()
}

#[cached(key = "quota:{user}", ttl = Duration::MAX)]
async fn quota(user: &str) -> Option<u64> {
    user.parse().ok()
}

fn main() {
    let _ = Duration::ZERO;
}
