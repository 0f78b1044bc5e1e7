//! The values of the options, each parsed with an error that shows the expected shape.

use quote::quote;
use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::ParseStream;
use syn::{Expr, Ident, Lit, LitBool, LitInt, LitStr, Path, Token};

use super::{CodecArg, Companion, CompressArg, TtlArg};
use crate::duration::{self, Use};

pub(super) fn parse_duration(
    input: ParseStream<'_>,
    option: &str,
    example: &str,
    purpose: Use,
) -> syn::Result<u64> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return duration::parse_millis(&literal, purpose);
    }
    Err(input.error(format!(
        "`{option}` is a duration, e.g. `{option} = \"{example}\"` (units: ms, s, m, h, d)"
    )))
}

/// `refresh_ahead = 0.8`: the share of the TTL after which a hit triggers a refresh.
pub(super) fn parse_share(input: ParseStream<'_>) -> syn::Result<u16> {
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

pub(super) fn parse_template(input: ParseStream<'_>) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        return input.parse();
    }
    Err(input.error(
        "`key` is a template string, e.g. `key = \"quote:{ticker}\"`, where `{ticker}` names an argument",
    ))
}

pub(crate) fn parse_ttl(input: ParseStream<'_>) -> syn::Result<TtlArg> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return duration::parse_millis(&literal, Use::Ttl).map(TtlArg::Millis);
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
    let shape = "`ttl` takes a policy variant, e.g. `ttl = Policy::StockPrice`, or a duration string, e.g. `ttl = \"5m\"` (units: ms, s, m, h, d)";
    let fork = input.fork();
    let path: Path = fork
        .parse()
        .map_err(|error| syn::Error::new(error.span(), shape))?;
    // A path followed by the end, a `,` or (a comma missing) the next option.
    if fork.is_empty() || fork.peek(Token![,]) || fork.peek(Ident::peek_any) {
        input.advance_to(&fork);
        return Ok(TtlArg::Policy(path));
    }
    // `ttl = Duration::from_secs(5)`: an expression, which the attribute cannot evaluate.
    let expression: Expr = input
        .parse()
        .map_err(|error| syn::Error::new(error.span(), shape))?;
    Err(syn::Error::new_spanned(
        &expression,
        match duration_literal(&expression) {
            Some(literal) => format!(
                "{shape}, not an expression: write `ttl = \"{literal}\"` (a policy variant instead can be overridden at start-up)"
            ),
            None => format!("{shape}, not an expression"),
        },
    ))
}

/// `Duration::from_secs(5)` -> `5s`, for the message.
fn duration_literal(expression: &Expr) -> Option<String> {
    let Expr::Call(call) = expression else {
        return None;
    };
    let Expr::Path(function) = &*call.func else {
        return None;
    };
    let unit = match function.path.segments.last()?.ident.to_string().as_str() {
        "from_millis" => "ms",
        "from_secs" => "s",
        "from_mins" => "m",
        "from_hours" => "h",
        "from_days" => "d",
        _ => return None,
    };
    match call.args.first() {
        Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Int(number),
            ..
        })) if call.args.len() == 1 => Some(format!("{}{unit}", number.base10_digits())),
        _ => None,
    }
}

pub(super) fn parse_tenant(input: ParseStream<'_>) -> syn::Result<Ident> {
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

pub(super) fn parse_version(input: ParseStream<'_>) -> syn::Result<u32> {
    let out_of_range = "`version` is a whole number from 0 to 4294967295; bump it when the cached type changes shape";
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        let number: LitInt = input.parse()?;
        return Err(syn::Error::new_spanned(
            quote!(#minus #number),
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

/// `companion = false`, `companion = true` or `companion = name`.
pub(super) fn parse_companion(input: ParseStream<'_>) -> syn::Result<Companion> {
    let message = "`companion` is `false` (no `<fn>_cache` companion, e.g. in a trait impl, where it cannot be an item) or the companion's name, e.g. `companion = quote_entry`";
    if input.peek(LitBool) {
        let value: LitBool = input.parse()?;
        return Ok(if value.value {
            Companion::Default
        } else {
            Companion::Off
        });
    }
    input
        .parse::<Ident>()
        .map(Companion::Named)
        .map_err(|error| syn::Error::new(error.span(), message))
}

/// `crate = "path"` (or `crate = path`): where the runtime is, as the user's crate names it.
pub(super) fn parse_crate(input: ParseStream<'_>) -> syn::Result<Path> {
    let message = "`crate` is the path of cache-runtime as this crate names it, e.g. `crate = \"cache\"` with `cache = { package = \"cache-runtime\" }`, or `crate = \"my_platform::cache\"` for a re-export";
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        return literal
            .parse::<Path>()
            .map_err(|_| syn::Error::new(literal.span(), message));
    }
    input
        .parse()
        .map_err(|error| syn::Error::new(error.span(), message))
}

/// The codecs `codec = "…"` takes: the name, and the runtime's marker type for it.
const CODECS: &[&str] = &["json", "msgpack"];

/// `codec = "msgpack"`.
pub(super) fn parse_codec(input: ParseStream<'_>) -> syn::Result<CodecArg> {
    let message = "`codec` is `\"json\"` (the default: plain JSON, readable by redis-cli) or `\"msgpack\"` (MessagePack, feature `msgpack`)";
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        let name = literal.value();
        return match CODECS.iter().find(|codec| **codec == name) {
            Some(marker) => Ok(CodecArg {
                marker,
                span: literal.span(),
            }),
            None => Err(syn::Error::new(
                literal.span(),
                format!("unknown codec `{name}`: {message}"),
            )),
        };
    }
    if input.peek(Ident::peek_any) {
        let name = input.call(Ident::parse_any)?;
        if CODECS.contains(&name.to_string().as_str()) {
            return Err(syn::Error::new(
                name.span(),
                format!("write the codec as a string: `codec = \"{name}\"`"),
            ));
        }
        return Err(syn::Error::new(name.span(), message));
    }
    Err(input.error(message))
}

/// `compress_above = "4kb"`, `compress_above = 4096` (bytes) or `compress_above = false`.
pub(super) fn parse_compress_above(input: ParseStream<'_>) -> syn::Result<CompressArg> {
    let message = "`compress_above` is a size, e.g. `compress_above = \"4kb\"` (units: b, kb, mb; 1kb = 1024 bytes) or a number of bytes, or `false` to never compress";
    if input.peek(LitBool) {
        let value: LitBool = input.parse()?;
        if value.value {
            return Err(syn::Error::new(value.span, message));
        }
        return Ok(CompressArg::Off);
    }
    let (text, span) = if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        (literal.value(), literal.span())
    } else if input.peek(LitInt) {
        let number: LitInt = input.parse()?;
        if !number.suffix().is_empty() {
            return Err(syn::Error::new(number.span(), message));
        }
        (number.base10_digits().to_owned(), number.span())
    } else {
        return Err(input.error(message));
    };
    size_bytes(&text)
        .map(|bytes| CompressArg::Above(bytes, span))
        .ok_or_else(|| syn::Error::new(span, format!("`{text}` is not a size: {message}")))
        .and_then(|threshold| match threshold {
            CompressArg::Above(bytes, _) if bytes > u64::from(u32::MAX) => Err(syn::Error::new(
                span,
                "`compress_above` is at most 4294967295 bytes (\"4095mb\")",
            )),
            threshold => Ok(threshold),
        })
}

/// `"4kb"` -> 4096: digits and an optional unit (`b`, `kb`, `mb`, any case).
fn size_bytes(text: &str) -> Option<u64> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(scale)
}
