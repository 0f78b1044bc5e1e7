use cache_runtime::{cached, CacheBuilder, TtlPolicy};

#[derive(TtlPolicy)]
enum Freshness {
    #[ttl("90s")]
    ExchangeRate,
    #[ttl("12h")]
    CountryList,
}

#[cached(key = "rate:{currency}", ttl = Freshness::ExchangeRate)]
async fn rate(currency: &str) -> Option<f64> {
    (currency == "JPY").then_some(0.0067)
}

#[cached(key = "countries", ttl = Freshness::CountryList)]
async fn countries() -> Vec<String> {
    vec!["JP".to_owned()]
}

#[tokio::main]
async fn main() {
    assert_eq!(Freshness::ExchangeRate.name(), "exchange_rate");
    let cache = CacheBuilder::new().build().await.unwrap();
    assert_eq!(cache.scope(rate("JPY")).await, Some(0.0067));
    assert_eq!(cache.scope(countries()).await, vec!["JP".to_owned()]);
}
