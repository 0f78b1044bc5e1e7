//! Parsing of the `#[cached(...)]` attribute into [`CachedArgs`]; every option keeps its span.
//!
//! Parsing does not stop at the first bad option: it skips to the next `,` and goes on, so that
//! every mistake is reported at once and the options that did parse (the `ttl` path above all)
//! are still known when the function is emitted unchanged next to the errors.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitInt, LitStr, Path, Token};

use crate::duration;

/// Which attribute the options belong to: each takes a subset of them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cached,
    Put,
    Evict,
}

/// Every option of the three attributes and which of them take it (`#[cached]`,
/// `#[cache_put]`, `#[cache_evict]`): the one list that parsing, the error messages and the
/// recovery after a mistake read.
const OPTIONS: &[(&str, [bool; 3])] = &[
    ("function", [false, true, true]),
    ("key", [true, true, true]),
    ("ttl", [true, false, false]),
    ("tenant", [true, true, true]),
    ("require_tenant", [true, false, false]),
    ("version", [true, false, true]),
    ("tags", [true, true, true]),
    ("stale_if_error", [true, false, false]),
    ("refresh_ahead", [true, false, false]),
    ("lock", [true, false, false]),
    ("tenant_entries", [false, false, true]),
];

/// Options of `#[cached]` that `#[cache_put]` takes from the function it names.
const TAKEN_FROM_FUNCTION: &[&str] = &["ttl", "version", "require_tenant", "stale_if_error"];

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Cached => "#[cached]",
            Kind::Put => "#[cache_put]",
            Kind::Evict => "#[cache_evict]",
        }
    }

    fn column(self) -> usize {
        match self {
            Kind::Cached => 0,
            Kind::Put => 1,
            Kind::Evict => 2,
        }
    }

    /// The options, as listed in error messages: "`a`, `b` and `c`".
    fn options(self) -> String {
        let names: Vec<String> = OPTIONS
            .iter()
            .filter(|(_, kinds)| kinds[self.column()])
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    fn allows(self, option: &str) -> bool {
        OPTIONS
            .iter()
            .any(|(name, kinds)| *name == option && kinds[self.column()])
    }
}

fn is_option(name: &str) -> bool {
    OPTIONS.iter().any(|(option, _)| *option == name)
}

/// Where an entry's time to live comes from.
pub(crate) enum TtlArg {
    /// `ttl = Policy::StockPrice`: a variant of a `TtlPolicy` enum, looked up at run time.
    Policy(Path),
    /// `ttl = "90s"`: a fixed duration, checked at compile time.
    Millis(u64),
}

/// The options of one `#[cached(...)]` attribute.
#[derive(Default)]
pub(crate) struct CachedArgs {
    pub key: Option<LitStr>,
    pub ttl: Option<TtlArg>,
    pub tenant: Option<Ident>,
    pub require_tenant: Option<Span>,
    pub version: Option<u32>,
    /// `tags = ["ticker:{ticker}", …]`.
    pub tags: Option<Vec<LitStr>>,
    /// `stale_if_error = "1h"`, in milliseconds.
    pub stale_if_error: Option<u64>,
    /// `refresh_ahead = 0.8`, in thousandths of the TTL, with the option's span.
    pub refresh_ahead: Option<(u16, Span)>,
    /// `lock` or `lock = "5s"`: the lease, in milliseconds.
    pub lock: Option<u64>,
    /// `#[cache_evict(function = quote)]`: every entry of that cached function;
    /// `#[cache_put(function = quote)]`: the cached function whose entry is written.
    pub function: Option<Path>,
    /// `#[cache_evict(tenant_entries)]`: every entry of the tenant.
    pub tenant_entries: Option<Span>,
}

/// The options that parsed, and the errors of those that did not.
pub(crate) struct Parsed {
    pub args: CachedArgs,
    pub errors: Option<syn::Error>,
}

/// The default lease of `lock` without a value.
const DEFAULT_LEASE_MS: u64 = 5_000;

pub(crate) fn parse(tokens: TokenStream, kind: Kind) -> Parsed {
    let parser = |input: ParseStream<'_>| {
        let mut args = CachedArgs::default();
        let mut errors: Option<syn::Error> = None;
        let mut report = |error: syn::Error| match &mut errors {
            Some(errors) => errors.combine(error),
            None => errors = Some(error),
        };
        while !input.is_empty() {
            if let Err(error) = args.parse_option(input, kind) {
                report(error);
                skip_to_comma(input)?;
            }
            if input.is_empty() {
                break;
            }
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
            } else {
                // `key = "a" ttl = "5m"`: report the missing comma and read on from here.
                report(input.error("expected `,` between options"));
                if !starts_option(input) {
                    skip_to_comma(input)?;
                    input.parse::<Option<Token![,]>>()?;
                }
            }
        }
        Ok(Parsed { args, errors })
    };
    parser.parse2(tokens).unwrap_or_else(|error| Parsed {
        args: CachedArgs::default(),
        errors: Some(error),
    })
}

fn skip_to_comma(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<TokenTree>()?;
    }
    Ok(())
}

fn starts_option(input: ParseStream<'_>) -> bool {
    input
        .fork()
        .parse::<Ident>()
        .is_ok_and(|name| is_option(&name.to_string()))
}

impl CachedArgs {
    fn parse_option(&mut self, input: ParseStream<'_>, kind: Kind) -> syn::Result<()> {
        if !input.peek(Ident) {
            return Err(input.error(format!("expected an option: {}", kind.options())));
        }
        let option: Ident = input.parse()?;
        let name = option.to_string();
        let span = option.span();
        if !is_option(&name) {
            return Err(syn::Error::new(
                span,
                format!(
                    "unknown option `{name}`: the options are {}",
                    kind.options()
                ),
            ));
        }
        if !kind.allows(&name) {
            if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                skip_to_comma(input)?;
            }
            let message = if kind == Kind::Put && TAKEN_FROM_FUNCTION.contains(&name.as_str()) {
                format!(
                    "`{name}` of #[cache_put] is the one of the #[cached] function it names with `function = …`, so that the two cannot disagree: remove it here"
                )
            } else {
                format!(
                    "`{name}` is not an option of {}: its options are {}",
                    kind.name(),
                    kind.options()
                )
            };
            return Err(syn::Error::new(span, message));
        }
        match name.as_str() {
            "tags" => {
                input.parse::<Token![=]>()?;
                let content;
                syn::bracketed!(content in input);
                let tags = content
                    .parse_terminated(<LitStr as syn::parse::Parse>::parse, Token![,])
                    .map_err(|error| {
                        syn::Error::new(
                            error.span(),
                            "`tags` is a list of tag templates, e.g. `tags = [\"ticker:{ticker}\", \"market\"]`",
                        )
                    })?;
                set_once(&mut self.tags, tags.into_iter().collect(), span, "tags")
            }
            "stale_if_error" => {
                input.parse::<Token![=]>()?;
                let window = parse_duration(input, "stale_if_error", "1h")?;
                set_once(&mut self.stale_if_error, window, span, "stale_if_error")
            }
            "refresh_ahead" => {
                input.parse::<Token![=]>()?;
                let share = parse_share(input)?;
                set_once(
                    &mut self.refresh_ahead,
                    (share, span),
                    span,
                    "refresh_ahead",
                )
            }
            "lock" => {
                let lease = if input.peek(Token![=]) {
                    input.parse::<Token![=]>()?;
                    parse_duration(input, "lock", "5s")?
                } else {
                    DEFAULT_LEASE_MS
                };
                set_once(&mut self.lock, lease, span, "lock")
            }
            "function" => {
                input.parse::<Token![=]>()?;
                let path: Path = input.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`function` names a `#[cached]` function, e.g. `function = quote`",
                    )
                })?;
                set_once(&mut self.function, path, span, "function")
            }
            "tenant_entries" => set_once(&mut self.tenant_entries, span, span, "tenant_entries"),
            "key" => {
                input.parse::<Token![=]>()?;
                let template = parse_template(input)?;
                set_once(&mut self.key, template, span, "key")
            }
            "ttl" => {
                input.parse::<Token![=]>()?;
                let ttl = parse_ttl(input)?;
                set_once(&mut self.ttl, ttl, span, "ttl")
            }
            "tenant" => {
                input.parse::<Token![=]>()?;
                let argument = parse_tenant(input)?;
                set_once(&mut self.tenant, argument, span, "tenant")
            }
            "require_tenant" => {
                if input.peek(Token![=]) {
                    let equals: Token![=] = input.parse()?;
                    return Err(syn::Error::new(
                        equals.span,
                        "`require_tenant` takes no value: write `require_tenant` alone, or leave it out",
                    ));
                }
                set_once(&mut self.require_tenant, span, span, "require_tenant")
            }
            _ => {
                input.parse::<Token![=]>()?;
                let version = parse_version(input)?;
                set_once(&mut self.version, version, span, "version")
            }
        }
    }
}

fn parse_duration(input: ParseStream<'_>, option: &str, example: &str) -> syn::Result<u64> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return duration::parse_millis(&literal);
    }
    Err(input.error(format!(
        "`{option}` is a duration, e.g. `{option} = \"{example}\"` (units: ms, s, m, h, d)"
    )))
}

/// `refresh_ahead = 0.8`: the share of the TTL after which a hit triggers a refresh.
fn parse_share(input: ParseStream<'_>) -> syn::Result<u16> {
    let message = "`refresh_ahead` is the share of the TTL after which a hit is refreshed in the background: a number between 0 and 1 exclusive, e.g. `refresh_ahead = 0.8`";
    let literal: syn::LitFloat = input
        .parse()
        .map_err(|error| syn::Error::new(error.span(), message))?;
    match literal.base10_parse::<f64>() {
        Ok(share) if share > 0.0 && share < 1.0 => {
            Ok((share * 1000.0).round().clamp(1.0, 999.0) as u16)
        }
        _ => Err(syn::Error::new(literal.span(), message)),
    }
}

fn parse_template(input: ParseStream<'_>) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    Err(input.error(
        "`key` is a template string, e.g. `key = \"quote:{ticker}\"`, where `{ticker}` names an argument",
    ))
}

fn parse_ttl(input: ParseStream<'_>) -> syn::Result<TtlArg> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return duration::parse_millis(&literal).map(TtlArg::Millis);
    }
    if input.peek(LitInt) {
        let number: LitInt = input.parse()?;
        return Err(syn::Error::new(
            number.span(),
            format!(
                "a duration needs a unit: write it as a string, e.g. `ttl = \"{}s\"` (units: ms, s, m, h, d)",
                number.base10_digits()
            ),
        ));
    }
    let path: Path = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            "expected a policy variant such as `Policy::StockPrice` or a duration such as \"5m\"",
        )
    })?;
    Ok(TtlArg::Policy(path))
}

fn parse_tenant(input: ParseStream<'_>) -> syn::Result<Ident> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return Err(syn::Error::new(
            literal.span(),
            format!(
                "`tenant` names the argument that holds the tenant id: write `tenant = {}` without quotes",
                literal.value()
            ),
        ));
    }
    input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            "`tenant` names the argument that holds the tenant id, e.g. `tenant = account`",
        )
    })
}

fn parse_version(input: ParseStream<'_>) -> syn::Result<u32> {
    let out_of_range = "`version` is a whole number from 0 to 4294967295; bump it when the cached type changes shape";
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        let number: LitInt = input.parse()?;
        return Err(syn::Error::new_spanned(
            quote::quote!(#minus #number),
            out_of_range,
        ));
    }
    let number: LitInt = input
        .parse()
        .map_err(|error| syn::Error::new(error.span(), out_of_range))?;
    number
        .base10_parse::<u32>()
        .map_err(|_| syn::Error::new(number.span(), out_of_range))
}

fn set_once<T>(slot: &mut Option<T>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("`{name}` set multiple times: keep one"),
        ));
    }
    *slot = Some(value);
    Ok(())
}
