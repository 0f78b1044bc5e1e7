use cache_runtime::cached;

#[cached(key = "a:{n}", ttl = "5m", compress_above = "4 gigs")]
async fn a(n: u32) -> u32 {
    n
}

#[cached(key = "b:{n}", ttl = "5m", compress_above = true)]
async fn b(n: u32) -> u32 {
    n
}

#[cached(key = "c:{n}", ttl = "5m", compress_above = "5000mb")]
async fn c(n: u32) -> u32 {
    n
}

#[cached(key = "d:{n}", ttl = "5m", compress_above = 4.5)]
async fn d(n: u32) -> u32 {
    n
}

#[cached(key = "e:{n}", ttl = "5m", compress_above = "1kb", compress_above = "2kb")]
async fn e(n: u32) -> u32 {
    n
}

fn main() {
    let _ = (a(1), b(1), c(1), d(1), e(1));
}
