//! The expansion of `#[cached(batch = …)]`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{FnArg, Ident, ItemFn, Pat};

use super::{probe, spec};
use crate::args::CachedArgs;
use crate::batch::BatchInfo;
use crate::check::Checked;
use crate::signature;

// Input:
//     #[cached(batch = ticker, key = "quote:{ticker}", ttl = "1m")]
//     async fn quotes(tickers: Vec<String>) -> HashMap<String, Quote> { body }
// Output:
//     async fn quotes(tickers: Vec<String>) -> HashMap<String, Quote> {
//         static SITE: Site = Site::new(..);
//         let batch = Call::lookup_many(&SITE, tickers, |ticker: &String| {
//             let mut call = Call::begin(&SITE, None);
//             if call.is_active() { call.text("quote:"); Call::arg(&mut call, &ticker); }
//             call
//         }).await;
//         Batch::complete(batch, move |tickers: Vec<String>| async move { body }).await
//     }
// Two statements, so that the key closure, which borrows the other arguments, is gone before
// the body takes them. No companion: its entries are keyed by one input, which no argument is.
pub(super) fn expand(
    args: &CachedArgs,
    function: &ItemFn,
    checked: &Checked,
    batch: &BatchInfo,
) -> TokenStream {
    let rt = args.private();
    let probe = probe();
    let spec = spec(args, function, checked);
    let call = Ident::new("__cache_call", Span::mixed_site());
    let looked_up = Ident::new("__cache_batch", Span::mixed_site());
    let unreachable = Ident::new("__cache_unreachable", Span::mixed_site());
    let steps = checked
        .key
        .iter()
        .chain(&checked.tags)
        .map(|step| step.tokens(&call, args));
    let tenant = &checked.tenant;
    let BatchInfo {
        element,
        param,
        pat,
        param_ty,
        input_ty,
    } = batch;
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    // The body rebinds the batch argument with its pattern (`mut tickers`); the signature only
    // hands it on, where a `mut` would be unused.
    let mut sig = sig.clone();
    for input in &mut sig.inputs {
        if let FnArg::Typed(typed) = input {
            if let Pat::Ident(pat) = &mut *typed.pat {
                if pat.ident == *param {
                    pat.mutability = None;
                }
            }
        }
    }
    let output = signature::output_type(&sig.output);
    let stmts = &block.stmts;
    quote! {
        #(#attrs)*
        #vis #sig {
            #probe
            static __CACHE_SITE: #rt::Site = #rt::Site::new(#spec);
            let #looked_up = #rt::Call::lookup_many(&__CACHE_SITE, #param, |#element: &#input_ty| {
                let mut #call = #rt::Call::begin(&__CACHE_SITE, #tenant);
                if #call.is_active() {
                    #(#steps)*
                }
                #call
            })
            .await;
            #rt::Batch::complete(#looked_up, move |#pat: #param_ty| async move {
                #[allow(unreachable_code, clippy::diverging_sub_expression)]
                if false {
                    let #unreachable: #output = loop {};
                    return #unreachable;
                }
                #(#stmts)*
            })
            .await
        }
    }
}
