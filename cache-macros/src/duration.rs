//! Duration literals in attributes: `"500ms"`, `"90s"`, `"5m"`, `"6h"`, `"1d"`.

use syn::LitStr;

/// Parses a duration literal into milliseconds, with the error spanned on the literal.
pub(crate) fn parse_millis(lit: &LitStr) -> syn::Result<u64> {
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
    let number: u64 = number.parse().map_err(|_| invalid(lit, &text))?;
    let millis = number
        .checked_mul(unit_ms)
        .ok_or_else(|| syn::Error::new(lit.span(), format!("duration `{text}` is too large")))?;
    if millis == 0 {
        return Err(syn::Error::new(
            lit.span(),
            "a cache duration must be greater than zero; to turn caching off, remove the attribute or set CACHE_ENABLED=false",
        ));
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
