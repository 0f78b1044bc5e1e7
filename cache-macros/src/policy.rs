//! `#[derive(TtlPolicy)]`: a fieldless enum whose variants each carry a `#[ttl("…")]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::duration;

pub(crate) fn derive(item: TokenStream) -> TokenStream {
    match syn::parse2::<DeriveInput>(item).and_then(|input| expand(&input)) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "`TtlPolicy` is derived for enums: one variant per policy, each with `#[ttl(\"…\")]`",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "a `TtlPolicy` enum cannot be generic",
        ));
    }
    let mut names = Vec::new();
    let mut ttls = Vec::new();
    let mut variants = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new(
                variant.fields.span(),
                "`TtlPolicy` variants carry no data: a policy is a name and a TTL",
            ));
        }
        let mut ttl = None;
        for attr in variant.attrs.iter().filter(|a| a.path().is_ident("ttl")) {
            if ttl.is_some() {
                return Err(syn::Error::new(attr.span(), "`#[ttl]` set multiple times"));
            }
            let literal: LitStr = attr.parse_args().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "write the TTL as a duration, e.g. `#[ttl(\"5m\")]`",
                )
            })?;
            ttl = Some(duration::parse_millis(&literal)?);
        }
        let Some(millis) = ttl else {
            return Err(syn::Error::new(
                variant.ident.span(),
                format!(
                    "variant `{}` has no TTL: add `#[ttl(\"5m\")]` (units: ms, s, m, h, d)",
                    variant.ident
                ),
            ));
        };
        variants.push(&variant.ident);
        names.push(snake_case(&variant.ident.to_string()));
        ttls.push(millis);
    }
    let ident = &input.ident;
    Ok(quote! {
        impl ::cache_runtime::TtlPolicy for #ident {
            fn name(&self) -> &'static str {
                match self { #(Self::#variants => #names,)* }
            }
            fn default_ttl(&self) -> ::core::time::Duration {
                match self { #(Self::#variants => ::core::time::Duration::from_millis(#ttls),)* }
            }
        }
    })
}

/// `AiAnalysis` -> `ai_analysis`, `HTTPQuota` -> `http_quota`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if previous.is_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_uppercase() && next_is_lower)
            {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn variant_names_become_snake_case() {
        assert_eq!(snake_case("AiAnalysis"), "ai_analysis");
        assert_eq!(snake_case("StockPrice"), "stock_price");
        assert_eq!(snake_case("HTTPQuota"), "http_quota");
        assert_eq!(snake_case("Short"), "short");
        assert_eq!(snake_case("V2Data"), "v2_data");
    }
}
