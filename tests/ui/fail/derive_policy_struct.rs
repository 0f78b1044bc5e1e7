use cache_runtime::TtlPolicy;

#[derive(TtlPolicy)]
struct Freshness {
    seconds: u64,
}

fn main() {}
