//! Parsing of the `#[cached(...)]` attribute into [`CachedArgs`]; every option keeps its span.
//!
//! Parsing does not stop at the first bad option: it skips to the next `,` and goes on, so that
//! every mistake is reported at once and the options that did parse (the `ttl` path above all)
//! are still known when the function is emitted unchanged next to the errors.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitInt, LitStr, Path, Token};

use crate::duration;

mod kw {
    syn::custom_keyword!(key);
    syn::custom_keyword!(ttl);
    syn::custom_keyword!(tenant);
    syn::custom_keyword!(require_tenant);
    syn::custom_keyword!(version);
    syn::custom_keyword!(tags);
    syn::custom_keyword!(stale_if_error);
    syn::custom_keyword!(refresh_ahead);
    syn::custom_keyword!(lock);
    syn::custom_keyword!(function);
    syn::custom_keyword!(tenant_entries);
}

/// Which attribute the options belong to: each takes a subset of them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Cached,
    Put,
    Evict,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Cached => "#[cached]",
            Kind::Put => "#[cache_put]",
            Kind::Evict => "#[cache_evict]",
        }
    }

    /// The options, as listed in error messages.
    fn options(self) -> &'static str {
        match self {
            Kind::Cached => "`key`, `ttl`, `tenant`, `require_tenant`, `version`, `tags`, `stale_if_error`, `refresh_ahead` and `lock`",
            Kind::Put => "`function`, `key`, `ttl`, `tenant`, `require_tenant`, `version`, `tags` and `stale_if_error`",
            Kind::Evict => "`key`, `version`, `tenant`, `tags`, `function` and `tenant_entries`",
        }
    }

    fn allows(self, option: &str) -> bool {
        match self {
            Kind::Cached => !matches!(option, "function" | "tenant_entries"),
            Kind::Put => !matches!(option, "tenant_entries" | "refresh_ahead" | "lock"),
            Kind::Evict => matches!(
                option,
                "key" | "version" | "tenant" | "tags" | "function" | "tenant_entries"
            ),
        }
    }
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
    input.peek(kw::key)
        || input.peek(kw::ttl)
        || input.peek(kw::tenant)
        || input.peek(kw::require_tenant)
        || input.peek(kw::version)
        || input.peek(kw::tags)
        || input.peek(kw::stale_if_error)
        || input.peek(kw::refresh_ahead)
        || input.peek(kw::lock)
        || input.peek(kw::function)
        || input.peek(kw::tenant_entries)
}

impl CachedArgs {
    fn parse_option(&mut self, input: ParseStream<'_>, kind: Kind) -> syn::Result<()> {
        if input.peek(Ident) {
            let fork = input.fork();
            let name: Ident = fork.parse()?;
            let name = name.to_string();
            if starts_option(input) && !kind.allows(&name) {
                let option: Ident = input.parse()?;
                if input.peek(Token![=]) {
                    input.parse::<Token![=]>()?;
                    skip_to_comma(input)?;
                }
                return Err(syn::Error::new(
                    option.span(),
                    format!(
                        "`{name}` is not an option of {}: its options are {}",
                        kind.name(),
                        kind.options()
                    ),
                ));
            }
        }
        if input.peek(kw::tags) {
            let option: kw::tags = input.parse()?;
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
            set_once(
                &mut self.tags,
                tags.into_iter().collect(),
                option.span,
                "tags",
            )
        } else if input.peek(kw::stale_if_error) {
            let option: kw::stale_if_error = input.parse()?;
            input.parse::<Token![=]>()?;
            let window = parse_duration(input, "stale_if_error", "1h")?;
            set_once(
                &mut self.stale_if_error,
                window,
                option.span,
                "stale_if_error",
            )
        } else if input.peek(kw::refresh_ahead) {
            let option: kw::refresh_ahead = input.parse()?;
            input.parse::<Token![=]>()?;
            let share = parse_share(input)?;
            set_once(
                &mut self.refresh_ahead,
                (share, option.span),
                option.span,
                "refresh_ahead",
            )
        } else if input.peek(kw::lock) {
            let option: kw::lock = input.parse()?;
            let lease = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                parse_duration(input, "lock", "5s")?
            } else {
                DEFAULT_LEASE_MS
            };
            set_once(&mut self.lock, lease, option.span, "lock")
        } else if input.peek(kw::function) {
            let option: kw::function = input.parse()?;
            input.parse::<Token![=]>()?;
            let path: Path = input.parse().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "`function` names a `#[cached]` function, e.g. `function = quote`",
                )
            })?;
            set_once(&mut self.function, path, option.span, "function")
        } else if input.peek(kw::tenant_entries) {
            let option: kw::tenant_entries = input.parse()?;
            set_once(
                &mut self.tenant_entries,
                option.span,
                option.span,
                "tenant_entries",
            )
        } else if input.peek(kw::key) {
            let option: kw::key = input.parse()?;
            input.parse::<Token![=]>()?;
            let template = parse_template(input)?;
            set_once(&mut self.key, template, option.span, "key")
        } else if input.peek(kw::ttl) {
            let option: kw::ttl = input.parse()?;
            input.parse::<Token![=]>()?;
            let ttl = parse_ttl(input)?;
            set_once(&mut self.ttl, ttl, option.span, "ttl")
        } else if input.peek(kw::tenant) {
            let option: kw::tenant = input.parse()?;
            input.parse::<Token![=]>()?;
            let argument = parse_tenant(input)?;
            set_once(&mut self.tenant, argument, option.span, "tenant")
        } else if input.peek(kw::require_tenant) {
            let option: kw::require_tenant = input.parse()?;
            if input.peek(Token![=]) {
                let equals: Token![=] = input.parse()?;
                return Err(syn::Error::new(
                    equals.span,
                    "`require_tenant` takes no value: write `require_tenant` alone, or leave it out",
                ));
            }
            set_once(
                &mut self.require_tenant,
                option.span,
                option.span,
                "require_tenant",
            )
        } else if input.peek(kw::version) {
            let option: kw::version = input.parse()?;
            input.parse::<Token![=]>()?;
            let version = parse_version(input)?;
            set_once(&mut self.version, version, option.span, "version")
        } else if input.peek(Ident) {
            let unknown: Ident = input.parse()?;
            Err(syn::Error::new(
                unknown.span(),
                format!(
                    "unknown option `{unknown}`: the options are {}",
                    kind.options()
                ),
            ))
        } else {
            Err(input.error(format!("expected an option: {}", kind.options())))
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
