// `#[ttl_policy(…)]` takes `crate = "path"` only.
#[derive(cache_runtime::TtlPolicy)]
#[ttl_policy(krate = "cache")]
enum Ttl {
    #[ttl("1m")]
    Short,
}

#[derive(cache_runtime::TtlPolicy)]
#[ttl_policy(crate = "not a path")]
enum Other {
    #[ttl("1m")]
    Short,
}

fn main() {
    let _ = (Ttl::Short, Other::Short);
}
