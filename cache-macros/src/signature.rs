//! Reading and checking the function under `#[cached]`: it must be an `async fn`, its arguments
//! are what key templates may name, and its return type must be something a cache can hold.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType, Signature, Type};

/// A named argument of the function.
pub(crate) struct Param {
    pub ident: syn::Ident,
}

/// What `#[cached]` needs to know about the function.
pub(crate) struct FnInfo {
    pub params: Vec<Param>,
    /// The span of `self` when the function is a method.
    pub receiver: Option<Span>,
    /// Arguments bound by a pattern other than a plain name, which a template cannot name.
    pub unnamed: Vec<Span>,
}

pub(crate) fn read(item: &ItemFn) -> syn::Result<FnInfo> {
    let sig = &item.sig;
    check_async(sig)?;
    check_output(&sig.output)?;
    let mut params = Vec::new();
    let mut receiver = None;
    let mut unnamed = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => receiver = Some(r.self_token.span),
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => params.push(Param {
                    ident: pat.ident.clone(),
                }),
                other => unnamed.push(other.span()),
            },
        }
    }
    Ok(FnInfo {
        params,
        receiver,
        unnamed,
    })
}

fn check_async(sig: &Signature) -> syn::Result<()> {
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span,
            "`#[cached]` works on `async fn` only: make this function `async` (the cache is reached over the network)",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(syn::Error::new(
            variadic.span(),
            "`#[cached]` cannot wrap a variadic function",
        ));
    }
    Ok(())
}

fn check_output(output: &ReturnType) -> syn::Result<()> {
    if let ReturnType::Type(_, ty) = output {
        if let Type::ImplTrait(impl_trait) = &**ty {
            return Err(syn::Error::new(
                impl_trait.span(),
                "`#[cached]` cannot store an `impl Trait` return type: return a concrete type that implements `Serialize` and `Deserialize`",
            ));
        }
    }
    Ok(())
}

/// The function's return type as tokens, `()` when it has none.
pub(crate) fn output_type(output: &ReturnType) -> Type {
    match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    }
}
