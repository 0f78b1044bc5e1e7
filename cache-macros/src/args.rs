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
}

/// The options, as listed in error messages.
const OPTIONS: &str = "`key`, `ttl`, `tenant`, `require_tenant` and `version`";

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
}

/// The options that parsed, and the errors of those that did not.
pub(crate) struct Parsed {
    pub args: CachedArgs,
    pub errors: Option<syn::Error>,
}

pub(crate) fn parse(tokens: TokenStream) -> Parsed {
    let parser = |input: ParseStream<'_>| {
        let mut args = CachedArgs::default();
        let mut errors: Option<syn::Error> = None;
        let mut report = |error: syn::Error| match &mut errors {
            Some(errors) => errors.combine(error),
            None => errors = Some(error),
        };
        while !input.is_empty() {
            if let Err(error) = args.parse_option(input) {
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
}

impl CachedArgs {
    fn parse_option(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        if input.peek(kw::key) {
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
                format!("unknown option `{unknown}`: the options are {OPTIONS}"),
            ))
        } else {
            Err(input.error(format!("expected an option: {OPTIONS}")))
        }
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
