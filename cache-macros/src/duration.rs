//! Duration literals in attributes: `"500ms"`, `"90s"`, `"5m"`, `"6h"`, `"1d"`.

use syn::LitStr;

/// What a duration is for: the messages about a zero duration differ.
#[derive(Clone, Copy)]
pub(crate) enum Use {
    /// `ttl = "…"`, `#[ttl("…")]`.
    Ttl,
    /// `lock = "…"`.
    Lease,
    /// `stale_if_error = "…"`.
    StaleWindow,
}

/// The longest duration an attribute takes: 100 years. Redis takes an expiry as a signed 64-bit
/// count of milliseconds after now (`PX`); a longer duration cannot be a TTL there, while the
/// in-process store would keep it, so the two backends would disagree. The cap keeps every
/// TTL, and a TTL plus its stale window, far inside what Redis accepts.
pub(crate) const MAX_MILLIS: u64 = 36_500 * 86_400_000;

/// Parses a duration literal into milliseconds, with the error spanned on the literal.
pub(crate) fn parse_millis(lit: &LitStr, purpose: Use) -> syn::Result<u64> {
    let text = lit.value();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(invalid(lit, &text)),
    };
    if number.is_empty() {
        return Err(invalid(lit, &text));
    }
    let millis = number
        .parse::<u64>()
        .ok()
        .and_then(|number| number.checked_mul(unit_ms))
        .filter(|millis| *millis <= MAX_MILLIS)
        .ok_or_else(|| {
            syn::Error::new(
                lit.span(),
                format!(
                    "duration `{text}` is too long: a cache duration is at most 100 years (\"36500d\"), since Redis takes expiries as a 64-bit count of milliseconds"
                ),
            )
        })?;
    if millis == 0 {
        let message = match purpose {
            Use::Ttl => "a cache duration must be greater than zero; to turn caching off, remove the attribute or set CACHE_ENABLED=false",
            Use::Lease => "a lease must be longer than zero, e.g. `lock = \"5s\"` (`lock` alone is 5 s); without `lock`, each process computes a cold key itself",
            Use::StaleWindow => "a stale window must be longer than zero, e.g. `stale_if_error = \"1h\"`; without `stale_if_error`, a failure is returned as it is",
        };
        return Err(syn::Error::new(lit.span(), message));
    }
    Ok(millis)
}

fn invalid(lit: &LitStr, text: &str) -> syn::Error {
    syn::Error::new(
        lit.span(),
        format!(
            "invalid duration `{text}`: expected a whole number followed by a unit (`ms`, `s`, `m`, `h` or `d`), e.g. \"90s\", \"5m\", \"6h\""
        ),
    )
}
