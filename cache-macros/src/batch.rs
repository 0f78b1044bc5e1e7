//! `#[cached(batch = ticker)]`: the function takes its inputs as one `Vec<K>` and returns a
//! `HashMap<K, V>`; each input has its own entry, whose key template names the input `ticker`.
//! This module reads the signature for that shape and rejects the options a batch cannot honour.

use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type};

use crate::args::CachedArgs;
use crate::diagnostic::combine;
use crate::template::{self, Piece};

/// The batch argument of a `#[cached(batch = …)]` function.
pub(crate) struct BatchInfo {
    /// What the key template calls one input: `ticker`.
    pub element: Ident,
    /// The `Vec` argument: `tickers`, with its pattern (`mut tickers`) and type.
    pub param: Ident,
    pub pat: Pat,
    pub param_ty: Type,
    /// `K` of `Vec<K>`.
    pub input_ty: Type,
}

/// Options that act on one computation of one key, which a batch does not have.
const SINGLE_CALL_ONLY: &[(&str, &str)] = &[
    (
        "lock",
        "a lease per key would hold a whole batch up on each of its inputs",
    ),
    (
        "refresh_ahead",
        "a refresh recomputes one input, and a batch computes them together",
    ),
    (
        "stale_if_error",
        "a batch returns a map, not a `Result` a stale copy could stand in for",
    ),
];

/// The batch argument, when `batch = …` is given; every problem at once.
pub(crate) fn read(args: &CachedArgs, function: &ItemFn) -> syn::Result<Option<BatchInfo>> {
    let Some(element) = &args.batch else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    for (name, span) in &args.given {
        if let Some((_, why)) = SINGLE_CALL_ONLY.iter().find(|(option, _)| option == name) {
            errors.push(syn::Error::new(
                *span,
                format!(
                    "`{name}` does not apply to a batch: {why}; remove it, or cache single calls"
                ),
            ));
        }
    }
    let vecs: Vec<(&syn::PatType, &Type)> = function
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some((typed, vec_element(&typed.ty)?)),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let batch = match vecs.as_slice() {
        [] => {
            errors.push(syn::Error::new(
                element.span(),
                format!("`batch = {element}` needs one argument of type `Vec<K>`, the inputs: e.g. `{element}s: Vec<String>`"),
            ));
            None
        }
        [(typed, input_ty)] => match &*typed.pat {
            Pat::Ident(pat) if pat.subpat.is_none() => Some(BatchInfo {
                element: element.clone(),
                param: pat.ident.clone(),
                pat: (*typed.pat).clone(),
                param_ty: (*typed.ty).clone(),
                input_ty: (*input_ty).clone(),
            }),
            other => {
                errors.push(syn::Error::new(
                    other.span(),
                    "the batch argument needs a plain name, e.g. `tickers: Vec<String>`",
                ));
                None
            }
        },
        [_, (second, _), ..] => {
            errors.push(syn::Error::new(
                second.ty.span(),
                "a batch takes exactly one `Vec` argument, its inputs; this is a second one: pass it as a slice (`&[T]`) or in a struct",
            ));
            None
        }
    };
    let named_like_argument = function.sig.inputs.iter().any(|input| {
        matches!(input, FnArg::Typed(typed)
            if matches!(&*typed.pat, Pat::Ident(pat) if pat.ident.unraw() == element.unraw()))
    });
    if named_like_argument {
        errors.push(syn::Error::new(
            element.span(),
            format!("`batch = {element}` names one input, so it cannot be the name of an argument: pick another name"),
        ));
    }
    if !returns_map(&function.sig.output) {
        let span = match &function.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => function.sig.ident.span(),
        };
        errors.push(syn::Error::new(
            span,
            "a batch returns `HashMap<K, V>`: the value of each input it computed, keyed by the input (inputs it leaves out are not cached)",
        ));
    }
    match &args.key {
        None => errors.push(syn::Error::new(
            element.span(),
            format!("a batch needs a key template naming each input: e.g. `key = \"quote:{{{element}}}\"`"),
        )),
        Some(lit) => {
            if let Ok(parsed) = template::parse(lit) {
                let names_element = parsed.pieces.iter().any(
                    |piece| matches!(piece, Piece::Arg(placeholder) if element.unraw() == placeholder.root),
                );
                if !names_element {
                    errors.push(syn::Error::new(
                        lit.span(),
                        format!("the key template of a batch must name the input, `{{{element}}}`: otherwise every input would share one entry"),
                    ));
                }
            }
        }
    }
    match combine(errors) {
        Some(errors) => Err(errors),
        None => Ok(batch),
    }
}

/// `K` when `ty` is `Vec<K>`.
fn vec_element(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    match &last.arguments {
        PathArguments::AngleBracketed(args) => match args.args.first()? {
            GenericArgument::Type(element) => Some(element),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the return type is a `HashMap<K, V>` (with any hasher).
fn returns_map(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    let Type::Path(path) = &**ty else {
        return false;
    };
    path.path.segments.last().is_some_and(|last| {
        last.ident == "HashMap"
            && matches!(&last.arguments, PathArguments::AngleBracketed(args) if args.args.len() >= 2)
    })
}
