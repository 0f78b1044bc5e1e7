// In a trait implementation the companion and the spec cannot be items: the error points at
// the attribute (`companion = false` leaves them out).
use cache_runtime::cached;

trait Rates {
    async fn rate(base: String) -> u64;
}

struct Fixed;

impl Rates for Fixed {
    #[cached(key = "rate:{base}", ttl = "5m")]
    async fn rate(base: String) -> u64 {
        base.len() as u64
    }
}

fn main() {}
