//! Reading and checking the function under `#[cached]`: it must be an `async fn`, its arguments
//! are what key templates and `tenant = …` may name, and its return type must be something a
//! cache can hold.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Signature, Type,
    Visibility,
};

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

/// Where a name that must be an argument comes from, for the error message.
pub(crate) enum Reference<'a> {
    /// `{name…}` in the key template.
    Placeholder(&'a str),
    /// `tenant = name`.
    Tenant,
}

pub(crate) fn read(item: &ItemFn) -> syn::Result<FnInfo> {
    let sig = &item.sig;
    let mut errors = Vec::new();
    errors.extend(check_async(sig).err());
    errors.extend(check_output(&sig.output).err());
    if let Some(error) = crate::diagnostic::combine(errors) {
        return Err(error);
    }
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

impl FnInfo {
    /// The argument named `name` (without `r#`); the error is spanned at `span`, suggests the
    /// closest argument, if one is close, and explains that arguments bound by a pattern cannot
    /// be named.
    pub(crate) fn find(
        &self,
        name: &str,
        span: Span,
        reference: Reference<'_>,
    ) -> syn::Result<syn::Ident> {
        if let Some(param) = self.params.iter().find(|p| p.ident.unraw() == name) {
            return Ok(param.ident.clone());
        }
        let quoted = match reference {
            Reference::Placeholder(placeholder) => format!("`{{{placeholder}}}`"),
            Reference::Tenant => format!("`tenant = {name}`"),
        };
        let names: Vec<String> = self
            .params
            .iter()
            .map(|p| p.ident.unraw().to_string())
            .chain(self.receiver.map(|_| "self".to_owned()))
            .collect();
        let mut message = if names.is_empty() && self.unnamed.is_empty() {
            format!("{quoted} names no argument: this function takes no arguments")
        } else if names.is_empty() {
            format!("{quoted} names no argument: this function has no argument with a plain name")
        } else {
            let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            let mut message = format!(
                "{quoted} names no argument of this function; its arguments are {}",
                listed.join(", ")
            );
            if let Some(closest) = closest(name, &names) {
                message.push_str(&format!("; did you mean `{closest}`?"));
            }
            message
        };
        if !self.unnamed.is_empty() {
            message.push_str(
                "; an argument bound by a pattern, like `(a, b): (u32, u32)`, cannot be named in a template: give it a plain name (`pair: (u32, u32)`), write `{pair.0}`, and destructure it in the body",
            );
        }
        Err(syn::Error::new(span, message))
    }
}

/// The argument whose name is within a small edit distance of `name`, if any.
fn closest<'a>(name: &str, names: &'a [String]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    names
        .iter()
        .filter(|candidate| candidate.as_str() != "self")
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
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
            return Err(syn::Error::new_spanned(
                impl_trait,
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

/// Where to report a return type that the cache cannot store: the `T` of `Result<T, E>` or
/// `Option<T>`, which is what gets stored, else the type itself. Only the first token of a type
/// can carry the span on stable Rust.
pub(crate) fn stored_type_span(output: &Type) -> Span {
    if let Type::Path(path) = output {
        if let Some(last) = path.path.segments.last() {
            if last.ident == "Result" || last.ident == "Option" {
                if let PathArguments::AngleBracketed(args) = &last.arguments {
                    if let Some(GenericArgument::Type(stored)) = args.args.first() {
                        return stored.span();
                    }
                }
            }
        }
    }
    output.span()
}

/// The error for an attribute on something that is not a function with a body, spanned at the
/// keyword of that item (`struct`, `impl`, …), or at the signature of a bodiless declaration.
pub(crate) fn not_a_function(item: TokenStream) -> syn::Error {
    if let Ok(declaration) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        if declaration.default.is_none() {
            return syn::Error::new(
                declaration.sig.ident.span(),
                "`#[cached]` needs the function's body: put it on the method's implementation, not on its declaration",
            );
        }
    }
    let first_token = |input: ParseStream<'_>| {
        input.call(Attribute::parse_outer)?;
        input.parse::<Visibility>()?;
        let span = input.parse::<TokenTree>()?.span();
        input.parse::<TokenStream>()?;
        Ok(span)
    };
    let span = first_token
        .parse2(item)
        .unwrap_or_else(|_| Span::call_site());
    syn::Error::new(
        span,
        "`#[cached]` goes on an `async fn` (a free function or a method)",
    )
}

#[cfg(test)]
mod tests {
    use super::{closest, edit_distance};

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(edit_distance("tickr", "ticker"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let names = vec!["ticker".to_owned(), "kind".to_owned()];
        assert_eq!(closest("tickr", &names), Some("ticker"));
        assert_eq!(closest("kinds", &names), Some("kind"));
        assert_eq!(closest("market", &names), None);
    }
}
