cache_runtime::keyspace!(RATES: f64 = "rate:{currency:title}", ttl = "5m");

fn main() {}
