// Placeholders whose field is no Rust field: each is a spanned error, never a macro panic.
use cache_runtime::cached;

#[cached(key = "g:{x.4294967296}", ttl = "1m")]
async fn huge_index(x: (u32, u32)) -> u32 {
    x.0
}

#[cached(key = "g:{x.01}", ttl = "1m")]
async fn leading_zero(x: (u32, u32)) -> u32 {
    x.0
}

#[cached(key = "g:{x.ⓐ}", ttl = "1m")]
async fn circled_letter(x: (u32, u32)) -> u32 {
    x.0
}

#[cached(key = "g:{x.a²}", ttl = "1m")]
async fn superscript(x: (u32, u32)) -> u32 {
    x.0
}

#[cached(key = "g:{x.self}", ttl = "1m")]
async fn self_field(x: (u32, u32)) -> u32 {
    x.0
}

#[cached(key = "g:{ⓐ}", ttl = "1m")]
async fn circled_root(x: (u32, u32)) -> u32 {
    x.0
}

#[cached(key = "g:{x.0}", tags = ["t:{x.a²}", "u:{x.4294967296}"], ttl = "1m")]
async fn in_tags(x: (u32, u32)) -> u32 {
    x.0
}

fn main() {}
