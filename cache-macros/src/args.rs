//! Parsing of the `#[cached(...)]` attribute into [`CachedArgs`]; every option keeps its span.
//!
//! Parsing does not stop at the first bad option: it skips to the next `,` and goes on, so that
//! every mistake is reported at once and the options that did parse (the `ttl` path above all)
//! are still known when the function is emitted unchanged next to the errors.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Path, Token};

use self::value::{
    parse_codec, parse_companion, parse_compress_above, parse_crate, parse_duration, parse_share,
    parse_template, parse_tenant, parse_ttl, parse_version,
};
use crate::duration::Use;

pub(crate) mod value;

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
    ("codec", [true, false, false]),
    ("compress_above", [true, false, false]),
    ("tenant_entries", [false, false, true]),
    ("companion", [true, false, false]),
    ("batch", [true, false, false]),
    ("crate", [true, true, true]),
];

/// Options of `#[cached]` that `#[cache_put]` takes from the function it names.
const TAKEN_FROM_FUNCTION: &[&str] = &[
    "ttl",
    "version",
    "require_tenant",
    "stale_if_error",
    "codec",
    "compress_above",
];

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
    /// `codec = "msgpack"`.
    pub codec: Option<CodecArg>,
    /// `compress_above = "4kb"` or `compress_above = false`.
    pub compress_above: Option<CompressArg>,
    /// `#[cache_evict(function = quote)]`: every entry of that cached function;
    /// `#[cache_put(function = quote)]`: the cached function whose entry is written.
    pub function: Option<Path>,
    /// `#[cache_evict(tenant_entries)]`: every entry of the tenant.
    pub tenant_entries: Option<Span>,
    /// `companion = false` or `companion = name`.
    pub companion: Option<Companion>,
    /// `crate = "path"`: the runtime's path where it is renamed or re-exported.
    pub krate: Option<Path>,
    /// `batch = ticker`: the function takes a `Vec` of inputs, each named so in the key.
    pub batch: Option<Ident>,
    /// Every option given, with the span of its name, for checks of combinations.
    pub given: Vec<(String, Span)>,
}

/// A codec named by `codec = "…"`, with the span of its value.
pub(crate) struct CodecArg {
    /// The runtime's marker type of the codec: `json` or `msgpack`.
    pub marker: &'static str,
    pub span: Span,
}

/// What `compress_above = …` asks for, with the span of its value.
pub(crate) enum CompressArg {
    /// `compress_above = false`.
    Off,
    /// `compress_above = "4kb"` or `4096`: in bytes.
    Above(u64, Span),
}

/// What `companion = …` asks for.
pub(crate) enum Companion {
    /// `companion = false`: no `<fn>_cache` and no `__cache_spec_<fn>`, e.g. in a trait impl.
    Off,
    /// `companion = true`: the default.
    Default,
    /// `companion = name`: the companion is called so.
    Named(Ident),
}

impl CachedArgs {
    /// The runtime crate's path: `::cache_runtime`, or the one `crate = "…"` gives.
    pub(crate) fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => quote!(#path),
            None => quote!(::cache_runtime),
        }
    }

    /// `<runtime>::__private`, the module expansions call.
    pub(crate) fn private(&self) -> TokenStream {
        let krate = self.krate();
        quote!(#krate::__private)
    }

    /// [`CachedArgs::private`] spanned at `span`: rustc reports an unmet bound of a generated
    /// call where the call's path is spanned, so such calls are spanned on what they check.
    pub(crate) fn private_at(&self, span: Span) -> TokenStream {
        respan(self.private(), span)
    }
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                TokenTree::Group(respanned)
            }
            mut token => {
                token.set_span(span);
                token
            }
        })
        .collect()
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
        .call(Ident::parse_any)
        .is_ok_and(|name| is_option(&name.to_string()))
}

impl CachedArgs {
    fn parse_option(&mut self, input: ParseStream<'_>, kind: Kind) -> syn::Result<()> {
        if !input.peek(Ident::peek_any) {
            return Err(input.error(format!("expected an option: {}", kind.options())));
        }
        // `crate` is a keyword.
        let option = input.call(Ident::parse_any)?;
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
        self.given.push((name.clone(), span));
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
                let window = parse_duration(input, "stale_if_error", "1h", Use::StaleWindow)?;
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
                    parse_duration(input, "lock", "5s", Use::Lease)?
                } else {
                    DEFAULT_LEASE_MS
                };
                set_once(&mut self.lock, lease, span, "lock")
            }
            "codec" => {
                input.parse::<Token![=]>()?;
                let codec = parse_codec(input)?;
                set_once(&mut self.codec, codec, span, "codec")
            }
            "compress_above" => {
                input.parse::<Token![=]>()?;
                let threshold = parse_compress_above(input)?;
                set_once(&mut self.compress_above, threshold, span, "compress_above")
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
            "companion" => {
                input.parse::<Token![=]>()?;
                let companion = parse_companion(input)?;
                set_once(&mut self.companion, companion, span, "companion")
            }
            "batch" => {
                input.parse::<Token![=]>()?;
                let element: Ident = input.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "`batch` names one input of the `Vec` argument as the key template calls it, e.g. `batch = ticker` with `key = \"quote:{ticker}\"`",
                    )
                })?;
                set_once(&mut self.batch, element, span, "batch")
            }
            "crate" => {
                input.parse::<Token![=]>()?;
                let path = parse_crate(input)?;
                set_once(&mut self.krate, path, span, "crate")
            }
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
