//! The error fallback: the item as written, next to the errors, so that IDEs keep working and
//! no second, spurious error appears.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{FnArg, ItemFn, Pat};

use crate::args::{CachedArgs, TtlArg};
use crate::signature;

pub(crate) fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

/// The function as written, plus the errors. The attribute's tokens disappear with it, so the
/// names only they used (the policy's import, arguments that only the key reads) are touched
/// here: otherwise "unused" warnings would pile up next to the real error.
pub(crate) fn fallback(mut function: ItemFn, args: &CachedArgs, errors: syn::Error) -> TokenStream {
    let mut used: Vec<TokenStream> = function
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Receiver(receiver) => Some(receiver.self_token.to_token_stream()),
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => Some(pat.ident.to_token_stream()),
                _ => None,
            },
        })
        .collect();
    if let Some(TtlArg::Policy(path)) = &args.ttl {
        used.push(path.to_token_stream());
    }
    if !used.is_empty() {
        function.block.stmts.insert(
            0,
            syn::parse_quote! {
                #[allow(unused)]
                let _ = || { #(let _ = &#used;)* };
            },
        );
    }
    with_error(function.into_token_stream(), errors)
}

/// The item as written, plus the error. As in [`fallback`], the policy path stays used, through a
/// `const _` when the item cannot be in an `impl` or a trait, where `const _` is not allowed.
pub(crate) fn not_a_function(item: TokenStream, args: &CachedArgs) -> TokenStream {
    let error = signature::not_a_function(item.clone());
    let in_module = matches!(
        syn::parse2::<syn::Item>(item.clone()),
        Ok(syn::Item::Struct(_)
            | syn::Item::Enum(_)
            | syn::Item::Union(_)
            | syn::Item::Trait(_)
            | syn::Item::Impl(_)
            | syn::Item::Mod(_)
            | syn::Item::Static(_)
            | syn::Item::Use(_))
    );
    let mut tokens = with_error(item, error);
    if let (true, Some(TtlArg::Policy(path))) = (in_module, &args.ttl) {
        tokens.extend(quote! {
            #[allow(unused)]
            const _: () = {
                let _ = || {
                    let _ = &#path;
                };
            };
        });
    }
    tokens
}
