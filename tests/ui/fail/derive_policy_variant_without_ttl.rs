use cache_runtime::{cached, TtlPolicy};

#[derive(TtlPolicy)]
enum Freshness {
    #[ttl("90s")]
    ExchangeRate,
    CountryList,
}

#[cached(key = "rate:{currency}", ttl = Freshness::ExchangeRate)]
async fn rate(currency: &str) -> Option<u64> {
    currency.parse().ok()
}

fn main() {
    let _ = rate("JPY");
}
