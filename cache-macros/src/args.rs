//! Parsing of the `#[cached(...)]` attribute into [`CachedArgs`]; every option keeps its span.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Ident, LitInt, LitStr, Path, Token};

use crate::duration;

mod kw {
    syn::custom_keyword!(key);
    syn::custom_keyword!(ttl);
    syn::custom_keyword!(tenant);
    syn::custom_keyword!(require_tenant);
    syn::custom_keyword!(version);
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
}

impl Parse for CachedArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = CachedArgs::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::key) {
                let option: kw::key = input.parse()?;
                input.parse::<Token![=]>()?;
                let template: LitStr = input.parse()?;
                set_once(&mut args.key, template, option.span, "key")?;
            } else if lookahead.peek(kw::ttl) {
                let option: kw::ttl = input.parse()?;
                input.parse::<Token![=]>()?;
                let ttl = parse_ttl(input)?;
                set_once(&mut args.ttl, ttl, option.span, "ttl")?;
            } else if lookahead.peek(kw::tenant) {
                let option: kw::tenant = input.parse()?;
                input.parse::<Token![=]>()?;
                let argument: Ident = input.parse()?;
                set_once(&mut args.tenant, argument, option.span, "tenant")?;
            } else if lookahead.peek(kw::require_tenant) {
                let option: kw::require_tenant = input.parse()?;
                set_once(
                    &mut args.require_tenant,
                    option.span,
                    option.span,
                    "require_tenant",
                )?;
            } else if lookahead.peek(kw::version) {
                let option: kw::version = input.parse()?;
                input.parse::<Token![=]>()?;
                let number: LitInt = input.parse()?;
                let version = number.base10_parse::<u32>().map_err(|_| {
                    syn::Error::new(
                        number.span(),
                        "`version` must be a whole number between 0 and 4294967295",
                    )
                })?;
                set_once(&mut args.version, version, option.span, "version")?;
            } else {
                return Err(lookahead.error());
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

fn parse_ttl(input: ParseStream<'_>) -> syn::Result<TtlArg> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return duration::parse_millis(&literal).map(TtlArg::Millis);
    }
    let path: Path = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            "expected a policy variant such as `Policy::StockPrice` or a duration such as \"5m\"",
        )
    })?;
    if path.segments.len() < 2 {
        return Err(syn::Error::new(
            path.span(),
            "`ttl` names a variant of a TTL policy enum, e.g. `Policy::StockPrice`, or is a duration such as \"5m\"",
        ));
    }
    Ok(TtlArg::Policy(path))
}

fn set_once<T>(slot: &mut Option<T>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("`{name}` set multiple times"),
        ));
    }
    *slot = Some(value);
    Ok(())
}
