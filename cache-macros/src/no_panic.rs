//! The macros never panic, whatever the attribute and the item: generated templates and options
//! (valid, malformed, out of range, non-ASCII, keywords) against a set of items, each expanded
//! under `catch_unwind` for the three attributes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

use proc_macro2::{Literal, TokenStream};

use crate::args::Kind;
use crate::expand;

/// Pieces of template text, chosen to hit every branch of template parsing.
const TEMPLATE_PIECES: &[&str] = &[
    "{",
    "}",
    ".",
    ":",
    "x",
    "y",
    "self",
    "r#",
    "type",
    "r#type",
    "0",
    "01",
    "4294967296",
    "ⓐ",
    "a²",
    "é",
    "_",
    " ",
    "-",
    "/",
    "#",
    "\\",
    "\"",
    "{{",
    "}}",
    "Self",
    "crate",
    "r#self",
    "",
];

/// Values of the options, some valid, most not.
const VALUES: &[&str] = &[
    "\"5m\"",
    "\"0s\"",
    "\"200000000000d\"",
    "\"18446744073709551615ms\"",
    "\"99999999999999999999s\"",
    "\"1 h\"",
    "\"\"",
    "Policy::StockPrice",
    "Duration::from_secs(5)",
    "5",
    "-1",
    "4294967296",
    "0.8",
    "1.5",
    "0.0",
    "x",
    "r#type",
    "type",
    "\"x\"",
    "true",
    "false",
    "[]",
    "[\"a\", 1]",
    "f",
    "path::to::f",
    "(a, b)",
];

const OPTIONS: &[&str] = &[
    "key",
    "ttl",
    "tenant",
    "require_tenant",
    "version",
    "tags",
    "stale_if_error",
    "refresh_ahead",
    "lock",
    "function",
    "tenant_entries",
    "crate",
    "companion",
    "unknown",
    "self",
];

const ITEMS: &[&str] = &[
    "async fn f(x: (u32, u32), r#type: u32, y: &str) -> Result<u32, String> { Ok(x.0) }",
    "async fn f(&self, x: u32) -> u32 { x }",
    "async fn f(self: Arc<Self>, x: String) -> Option<u32> { None }",
    "async fn f((a, b): (u32, u32), Wrapper(c): Wrapper) -> u32 { a }",
    "async fn f<T: Serialize, const N: usize>(x: T) -> T { x }",
    "async fn f() {}",
    "async fn f(x: u32) -> impl Sized { x }",
    "pub(crate) async fn f(x: &'static str) -> u32 { 1 }",
    "fn f(x: u32) -> u32 { x }",
    "async fn f(x: u32) -> u32;",
    "unsafe extern \"C\" fn f(x: u32, ...) {}",
    "struct S;",
    "impl S { async fn f() {} }",
    "",
    "#",
];

/// xorshift64*: a fixed sequence, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Roots and fields of placeholders: arguments of the items, keywords, and names that are no
/// identifiers.
const NAMES: &[&str] = &[
    "x",
    "y",
    "r#type",
    "type",
    "self",
    "a",
    "0",
    "01",
    "4294967296",
    "ⓐ",
    "a²",
    "_",
    "Self",
    "r#self",
    "",
    " x",
];

/// `{root.field…}` with a root that names an argument of most items.
fn placeholder(rng: &mut Rng) -> String {
    let mut text = format!("{{{}", rng.pick(&["x", "y", "type", "r#type", "self"]));
    for _ in 0..rng.below(3) {
        text.push('.');
        text.push_str(rng.pick(NAMES));
    }
    text.push('}');
    text
}

/// A template string literal: placeholders built from [`NAMES`] between pieces of text, or
/// any sequence of [`TEMPLATE_PIECES`].
fn template(rng: &mut Rng) -> String {
    let mut text = String::new();
    for _ in 0..rng.below(5) {
        if rng.below(3) == 0 {
            text.push_str(rng.pick(TEMPLATE_PIECES));
            continue;
        }
        text.push_str(rng.pick(&["g:", ":", ":", ":", "", "é", "{{"]));
        text.push('{');
        text.push_str(rng.pick(NAMES));
        for _ in 0..rng.below(3) {
            text.push('.');
            text.push_str(rng.pick(NAMES));
        }
        text.push('}');
    }
    Literal::string(&text).to_string()
}

fn option(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=2 => return format!("key = {}", template(rng)),
        3 => return format!("tags = [{}, {}]", template(rng), template(rng)),
        _ => {}
    }
    let name = rng.pick(OPTIONS);
    match rng.below(6) {
        0 => name.to_owned(),
        1 => format!("{name} = {}", template(rng)),
        2 => format!("{name} = [{}, {}]", template(rng), template(rng)),
        _ => format!("{name} = {}", rng.pick(VALUES)),
    }
}

/// An attribute's arguments: half of them well formed but for the templates, so that the
/// templates reach the checks against the function, half anything.
fn arguments(rng: &mut Rng) -> String {
    if rng.below(2) == 0 {
        let key = Literal::string(&format!("g:{}", placeholder(rng)));
        let tag = Literal::string(&format!("t:{}", placeholder(rng)));
        return format!("key = {key}, tags = [{tag}], ttl = \"1m\"");
    }
    let mut text = String::new();
    for i in 0..rng.below(6) {
        if i > 0 {
            text.push_str(match rng.below(10) {
                0 => " ",
                1 => " = ",
                _ => ", ",
            });
        }
        text.push_str(&option(rng));
    }
    text
}

#[test]
fn no_input_makes_the_attributes_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let items: Vec<TokenStream> = ITEMS
        .iter()
        .filter_map(|item| TokenStream::from_str(item).ok())
        .collect();
    assert!(items.len() >= ITEMS.len() - 1, "the items lex");
    let mut panicked = Vec::new();
    let mut expanded = 0;
    for _ in 0..1500 {
        let text = arguments(&mut rng);
        let Ok(args) = TokenStream::from_str(&text) else {
            continue;
        };
        for item in &items {
            for kind in [Kind::Cached, Kind::Put, Kind::Evict] {
                let run = || expand::attribute(args.clone(), item.clone(), kind);
                if catch_unwind(AssertUnwindSafe(run)).is_err() {
                    panicked.push(format!("{}({text}) on `{item}`", kind.name()));
                }
                expanded += 1;
            }
        }
    }
    assert!(expanded > 30_000, "only {expanded} expansions");
    assert!(
        panicked.is_empty(),
        "{} of {expanded} expansions panicked, e.g.:\n{}",
        panicked.len(),
        panicked[..panicked.len().min(10)].join("\n")
    );
}
