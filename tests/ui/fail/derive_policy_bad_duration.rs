use cache_runtime::TtlPolicy;

#[derive(TtlPolicy)]
enum Freshness {
    #[ttl("90 seconds")]
    ExchangeRate,
    #[ttl(12)]
    CountryList,
}

fn main() {}
