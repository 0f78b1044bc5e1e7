//! `#[derive(TtlPolicy)]`: a fieldless enum whose variants each carry a `#[ttl("…")]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{Data, DeriveInput, Fields, Ident, LitStr};

use crate::diagnostic::combine;
use crate::duration;

pub(crate) fn derive(item: TokenStream) -> TokenStream {
    let input = match syn::parse2::<DeriveInput>(item) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let krate = match runtime_path(&input) {
        Ok(krate) => krate,
        Err(error) => {
            let error = error.to_compile_error();
            let fallback = fallback(&input, &quote!(::cache_runtime));
            return quote!(#error #fallback);
        }
    };
    match expand(&input, &krate) {
        Ok(tokens) => tokens,
        Err(error) => {
            let error = error.to_compile_error();
            let fallback = fallback(&input, &krate);
            quote!(#error #fallback)
        }
    }
}

/// `#[ttl_policy(crate = "path")]`: the runtime's path where it is renamed or re-exported, as
/// `crate = "…"` of `#[cached]`; `::cache_runtime` without it.
fn runtime_path(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut krate = None;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("ttl_policy"))
    {
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("crate") {
                return Err(meta.error(
                    "the option of `#[ttl_policy(…)]` is `crate = \"path\"`, the path of cache-runtime as this crate names it",
                ));
            }
            let literal: LitStr = meta.value()?.parse()?;
            let path: syn::Path = literal.parse().map_err(|_| {
                syn::Error::new(
                    literal.span(),
                    "`crate` is a path, e.g. `#[ttl_policy(crate = \"cache\")]`",
                )
            })?;
            krate = Some(quote!(#path));
            Ok(())
        })?;
    }
    Ok(krate.unwrap_or_else(|| quote!(::cache_runtime)))
}

/// An impl that never runs, emitted next to the errors, so that every `ttl = ThisEnum::Variant`
/// in the crate does not add "is not a TTL policy" to the real error (as thiserror's fallback).
fn fallback(input: &DeriveInput, krate: &TokenStream) -> TokenStream {
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    quote_spanned! {ident.span()=>
        impl #krate::TtlPolicy for #ident {
            fn name(&self) -> &'static str {
                ::core::unreachable!()
            }
            fn default_ttl(&self) -> ::core::time::Duration {
                ::core::unreachable!()
            }
        }
    }
}

fn expand(input: &DeriveInput, krate: &TokenStream) -> syn::Result<TokenStream> {
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "`TtlPolicy` is derived for enums: one variant per policy, each with `#[ttl(\"…\")]`",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "a `TtlPolicy` enum cannot be generic",
        ));
    }
    let mut names = Vec::new();
    let mut ttls = Vec::new();
    let mut variants = Vec::new();
    let mut errors = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            errors.push(syn::Error::new_spanned(
                &variant.fields,
                "`TtlPolicy` variants carry no data: a policy is a name and a TTL; remove the fields",
            ));
        }
        match variant_ttl(variant) {
            Ok(millis) => ttls.push(millis),
            Err(error) => errors.push(error),
        }
        variants.push(&variant.ident);
        names.push(snake_case(&variant.ident.to_string()));
    }
    if let Some(errors) = combine(errors) {
        return Err(errors);
    }
    let ident = &input.ident;
    // Spanned on the enum's name: rustc's "the trait is implemented for …" hints point there.
    Ok(quote_spanned! {ident.span()=>
        impl #krate::TtlPolicy for #ident {
            fn name(&self) -> &'static str {
                match self { #(Self::#variants => #names,)* }
            }
            fn default_ttl(&self) -> ::core::time::Duration {
                match self { #(Self::#variants => ::core::time::Duration::from_millis(#ttls),)* }
            }
            fn path(&self) -> &'static str {
                match self {
                    #(Self::#variants => ::core::concat!(
                        ::core::module_path!(), "::", ::core::stringify!(#ident), "::", ::core::stringify!(#variants)
                    ),)*
                }
            }
        }
    })
}

/// The variant's `#[ttl("…")]` in milliseconds.
fn variant_ttl(variant: &syn::Variant) -> syn::Result<u64> {
    let mut ttl = None;
    for attr in variant.attrs.iter().filter(|a| a.path().is_ident("ttl")) {
        if ttl.is_some() {
            return Err(syn::Error::new_spanned(
                attr,
                "`#[ttl]` set multiple times: keep one",
            ));
        }
        let literal: LitStr = attr.parse_args().map_err(|e| {
            syn::Error::new(
                e.span(),
                "write the TTL as a duration string, e.g. `#[ttl(\"5m\")]` (units: ms, s, m, h, d)",
            )
        })?;
        ttl = Some(duration::parse_millis(&literal, duration::Use::Ttl)?);
    }
    ttl.ok_or_else(|| missing_ttl(&variant.ident))
}

fn missing_ttl(variant: &Ident) -> syn::Error {
    syn::Error::new(
        variant.span(),
        format!(
            "variant `{variant}` has no TTL: add `#[ttl(\"5m\")]` above it (units: ms, s, m, h, d)"
        ),
    )
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
    use super::{derive, snake_case};

    #[test]
    fn ttl_policy_crate_replaces_the_runtime_path() {
        let item = quote::quote! {
            #[ttl_policy(crate = "platform::cache")]
            enum Ttl {
                #[ttl("5m")]
                Rates,
            }
        };
        let expanded = derive(item).to_string();
        assert!(!expanded.contains("cache_runtime"), "{expanded}");
        assert!(
            expanded.contains("platform :: cache :: TtlPolicy"),
            "{expanded}"
        );
    }

    #[test]
    fn variant_names_become_snake_case() {
        assert_eq!(snake_case("AiAnalysis"), "ai_analysis");
        assert_eq!(snake_case("StockPrice"), "stock_price");
        assert_eq!(snake_case("HTTPQuota"), "http_quota");
        assert_eq!(snake_case("Short"), "short");
        assert_eq!(snake_case("V2Data"), "v2_data");
    }
}
