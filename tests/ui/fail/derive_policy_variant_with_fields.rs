use cache_runtime::TtlPolicy;

#[derive(TtlPolicy)]
enum Freshness {
    #[ttl("90s")]
    ExchangeRate,
    #[ttl("12h")]
    Custom { seconds: u64 },
}

fn main() {}
