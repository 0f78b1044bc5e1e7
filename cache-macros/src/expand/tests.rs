//! Expansion properties that no compile test can show.

use std::str::FromStr;

use proc_macro2::TokenStream;

use crate::args::Kind;

fn expand(kind: Kind, args: &str, item: &str) -> String {
    let parse = |text: &str| TokenStream::from_str(text).expect("the test input lexes");
    super::attribute(parse(args), parse(item), kind).to_string()
}

/// With `crate = "…"`, the runtime is named only through that path: a renamed dependency or a
/// re-export works although `::cache_runtime` does not resolve. A UI test cannot show this,
/// since there `::cache_runtime` always resolves.
#[test]
fn crate_replaces_every_runtime_path() {
    let cases = [
        (
            Kind::Cached,
            r#"crate = "platform::cache", key = "q:{t}", ttl = Policy::StockPrice, tags = ["t:{t}"], tenant = a, stale_if_error = "1h", lock, codec = "msgpack", compress_above = "4kb""#,
            "async fn f(a: String, t: String) -> Result<u32, String> { Ok(1) }",
        ),
        (
            Kind::Cached,
            r#"crate = "platform::cache", ttl = "1m", refresh_ahead = 0.5, compress_above = false"#,
            "async fn f<T: X>(t: T, n: u32) -> u32 { n }",
        ),
        (
            Kind::Cached,
            r#"crate = "platform::cache", key = "q:{self.id}", ttl = "1m""#,
            "async fn f(&self) -> u32 { 1 }",
        ),
        (
            Kind::Put,
            r#"crate = "platform::cache", function = f, key = "q:{t}", tenant = a"#,
            "async fn put_f(a: &str, t: &str) -> Result<u32, String> { Ok(1) }",
        ),
        (
            Kind::Evict,
            r#"crate = "platform::cache", key = "q:{t}", tags = ["t:{t}"], tenant_entries"#,
            "async fn evict_f(t: &str) -> Result<(), String> { Ok(()) }",
        ),
        (
            Kind::Evict,
            r#"crate = "platform::cache", function = f"#,
            "async fn evict_all() {}",
        ),
    ];
    for (kind, args, item) in cases {
        let expanded = expand(kind, args, item);
        assert!(
            !expanded.contains("compile_error"),
            "{}({args}) did not expand: {expanded}",
            kind.name()
        );
        assert!(
            !expanded.contains("cache_runtime"),
            "{}({args}) names `cache_runtime`: {expanded}",
            kind.name()
        );
        assert!(
            expanded.contains("platform :: cache :: __private"),
            "{}({args}): {expanded}",
            kind.name()
        );
    }
}
