// Arguments bound by a pattern cannot be named in a template: the message says to give them a
// plain name.
use cache_runtime::cached;
use serde::Serialize;

#[derive(Serialize)]
struct Wrapper(u32);

#[cached(key = "sum:{a}:{b}", ttl = "5m")]
async fn sum((a, b): (u32, u32)) -> u32 {
    a + b
}

#[cached(key = "inner:{inner}:{scale}", ttl = "5m")]
async fn inner(Wrapper(inner): Wrapper, scale: u32) -> u32 {
    inner * scale
}

#[cached(ttl = "5m")]
async fn derived((a, b): (u32, u32)) -> u32 {
    a + b
}

fn main() {}
