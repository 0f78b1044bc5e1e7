// A duration Redis cannot take as an expiry (`PX` is a signed 64-bit count of milliseconds) is
// refused at compile time: at most 100 years.
use cache_runtime::cached;

#[cached(key = "quote:{ticker}", ttl = "200000000000d")]
async fn quote(ticker: &str) -> Option<u64> {
    ticker.parse().ok()
}

#[cached(key = "rate:{pair}", ttl = "99999999999999999999ms")]
async fn rate(pair: &str) -> Option<u64> {
    pair.parse().ok()
}

#[cached(key = "news:{topic}", ttl = "36501d")]
async fn news(topic: &str) -> Option<u64> {
    topic.parse().ok()
}

#[cached(key = "fx:{pair}", ttl = "36500d", stale_if_error = "876001h", lock = "3153600001s")]
async fn fx(pair: &str) -> Result<u64, String> {
    pair.parse().map_err(|_| pair.to_owned())
}

#[derive(cache_runtime::TtlPolicy)]
enum Ttl {
    #[ttl("200000000000d")]
    Forever,
}

fn main() {}
