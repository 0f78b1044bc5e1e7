//! `#[cache_put]` and `#[cache_evict]`: the body always runs, then its result is stored as an
//! entry of the `#[cached]` function named by `function = …`, or the entries named are deleted.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Ident, ItemFn};

use super::{parts, spec_path, Parts};
use crate::args::{CachedArgs, Kind};
use crate::check::Checked;

// Input:
//     #[cache_put(key = "rate:{base}", ttl = Ttl::Rate)]
//     async fn set_rate(base: &str, rate: f64) -> Result<f64, Error> { body }
// Output: the body always runs; a cacheable result is stored under the key, then returned.
pub(super) fn expand_put(args: &CachedArgs, function: &ItemFn, checked: Checked) -> TokenStream {
    let Parts {
        rt,
        prelude,
        call,
        output,
        adapter,
        body,
        ..
    } = parts(args, function, &checked, Kind::Put);
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let result = Ident::new("__cache_result", Span::mixed_site());
    quote! {
        #(#attrs)*
        #vis #sig {
            #prelude
            let #result: #output = #body.await;
            #rt::Call::put_result(#call, #adapter, &#result).await;
            #result
        }
    }
}

// Input:
//     #[cache_evict(key = "rate:{base}", tags = ["currency:{base}"])]
//     async fn update_rate(base: &str, rate: f64) -> Result<(), Error> { body }
// Output: the body runs; if it succeeded (anything but `Err`), the named entries are deleted,
// then the result is returned. A failed eviction is logged and counted, not returned.
pub(super) fn expand_evict(args: &CachedArgs, function: &ItemFn, checked: Checked) -> TokenStream {
    let Parts {
        rt,
        prelude,
        call,
        output,
        adapter_unchecked,
        body,
        ..
    } = parts(args, function, &checked, Kind::Evict);
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let result = Ident::new("__cache_result", Span::mixed_site());
    let key = args.key.is_some();
    let tenant_entries = args.tenant_entries.is_some();
    // `function = f` with a key: that entry of `f` (the call's site is `f`'s); without one,
    // every entry of `f`.
    let (target, function) = match &args.function {
        Some(path) if args.key.is_none() => {
            let spec_path = spec_path(path);
            (
                quote! {
                    static __CACHE_TARGET: #rt::Site =
                        #rt::Site::new(#spec_path);
                },
                quote!(::core::option::Option::Some(&__CACHE_TARGET)),
            )
        }
        _ => (quote!(), quote!(::core::option::Option::None)),
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #prelude
            #target
            let #result: #output = #body.await;
            let __cache_eviction = #rt::Eviction {
                key: #key,
                function: #function,
                tenant_entries: #tenant_entries,
            };
            #rt::Call::evict(#call, #adapter_unchecked, &#result, __cache_eviction).await;
            #result
        }
    }
}
