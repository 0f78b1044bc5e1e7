//! Validation: the attribute's options checked against the function, every problem reported
//! at once, each spanned on what is wrong; the result is what generation needs.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, LitStr};

use crate::args::{CachedArgs, Kind, TtlArg};
use crate::batch::{self, BatchInfo};
use crate::diagnostic::combine;
use crate::signature::{self, FnInfo, Reference};
use crate::template::{self, Field, Piece, Placeholder};

/// What the checks produced, ready for generation.
pub(crate) struct Checked {
    pub(crate) ttl: TokenStream,
    pub(crate) key: Vec<KeyStep>,
    pub(crate) tags: Vec<KeyStep>,
    pub(crate) tenant: TokenStream,
    /// The arguments the key, the tags and the tenant read, for the companion's signature.
    pub(crate) used: Vec<String>,
    pub(crate) receiver: bool,
    /// `batch = …`: the `Vec` argument and what the key calls one of its inputs.
    pub(crate) batch: Option<BatchInfo>,
}

/// Checks the attribute against the function, reporting every problem at once.
pub(crate) fn check(
    args: &CachedArgs,
    args_tokens: &TokenStream,
    function: &ItemFn,
    kind: Kind,
) -> syn::Result<Checked> {
    let mut errors = Vec::new();
    let rt = args.private();
    let ttl = if kind == Kind::Cached {
        collect(&mut errors, ttl_tokens(args, args_tokens))
    } else {
        // `#[cache_put]` takes the TTL of the function it names; `#[cache_evict]` writes nothing.
        quote!(#rt::Ttl::Fixed(::core::time::Duration::from_millis(1)))
    };
    if kind == Kind::Put && args.function.is_none() {
        errors.push(syn::Error::new(
            span_of(args_tokens),
            "name the `#[cached]` function whose entry this writes, e.g. `function = quote`: its TTL, version and identity are used, so that invalidating that function also drops what was put",
        ));
    }
    if kind == Kind::Put && args.key.is_none() {
        errors.push(syn::Error::new(
            span_of(args_tokens),
            "write the key template of the function named by `function = …`, e.g. `key = \"quote:{ticker}\"`: it is checked at compile time to be that function's own",
        ));
    }
    if kind == Kind::Evict && args.function.is_some() && args.version.is_some() {
        errors.push(syn::Error::new(
            span_of(args_tokens),
            "with `function = …`, `#[cache_evict]` uses that function's `version`: remove `version` here",
        ));
    }
    if kind == Kind::Evict
        && args.key.is_none()
        && args.tags.is_none()
        && args.function.is_none()
        && args.tenant_entries.is_none()
    {
        errors.push(syn::Error::new(
            span_of(args_tokens),
            "say what to evict: `key = \"…\"` (one entry), `tags = [\"…\"]`, `function = cached_fn` (all its entries) or `tenant_entries` (all of the tenant's entries)",
        ));
    }
    let mut used = Vec::new();
    let mut receiver = false;
    let batch = collect(&mut errors, batch::read(args, function));
    let (key, tags, tenant) = match signature::read(function) {
        Ok(mut info) => {
            if let Some(batch) = &batch {
                // The key names one input, not the `Vec` of them.
                info.params.retain(|param| param.ident != batch.param);
            }
            if let Some(element) = &args.batch {
                info.params.push(signature::Param {
                    ident: element.clone(),
                });
            }
            receiver = info.receiver.is_some();
            if let Some((_, span)) = args.refresh_ahead {
                errors.extend(owned_arguments(function, span).err());
            }
            let key = if kind == Kind::Evict && args.key.is_none() {
                Vec::new()
            } else {
                collect(&mut errors, key_steps(args, &info))
            };
            let tags = collect(&mut errors, tag_steps(args, &info));
            let tenant = collect(&mut errors, tenant_tokens(args, &info));
            for step in key.iter().chain(&tags) {
                if let KeyStep::Arg {
                    root: Some(root), ..
                } = step
                {
                    used.push(root.clone());
                }
            }
            if let Some(name) = &args.tenant {
                used.push(name.unraw().to_string());
            }
            (key, tags, tenant)
        }
        Err(error) => {
            errors.push(error);
            Default::default()
        }
    };
    if let (Some(span), Some(_)) = (args.require_tenant, &args.tenant) {
        errors.push(syn::Error::new(
            span,
            "`require_tenant` and `tenant = …` exclude each other: with a tenant argument every call has a tenant; remove `require_tenant`",
        ));
    }
    match combine(errors) {
        Some(errors) => Err(errors),
        None => Ok(Checked {
            ttl,
            key,
            tags,
            tenant,
            used,
            receiver,
            batch,
        }),
    }
}

pub(crate) fn span_of(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}

/// `refresh_ahead` runs the function after its caller returned: it cannot borrow from the caller.
fn owned_arguments(function: &ItemFn, option: Span) -> syn::Result<()> {
    let borrowed = function.sig.inputs.iter().find_map(|input| match input {
        FnArg::Receiver(receiver) if receiver.reference.is_some() => Some(receiver.span()),
        FnArg::Typed(typed) => match &*typed.ty {
            // A `&'static` argument outlives every caller.
            syn::Type::Reference(reference)
                if reference
                    .lifetime
                    .as_ref()
                    .is_none_or(|lifetime| lifetime.ident != "static") =>
            {
                Some(typed.ty.span())
            }
            _ => None,
        },
        _ => None,
    });
    match borrowed {
        Some(span) => {
            let mut error = syn::Error::new(
                span,
                "`refresh_ahead` recomputes entries in the background after the caller returned, so the function cannot borrow its arguments: take them owned (`String` for `&str`, `Arc<Self>` for `&self`)",
            );
            error.combine(syn::Error::new(option, "`refresh_ahead` is set here"));
            Err(error)
        }
        None => Ok(()),
    }
}

/// The value of `result`, or a placeholder once its error is recorded in `errors`.
fn collect<T: Default>(errors: &mut Vec<syn::Error>, result: syn::Result<T>) -> T {
    result.unwrap_or_else(|error| {
        errors.push(error);
        T::default()
    })
}

fn ttl_tokens(args: &CachedArgs, args_tokens: &TokenStream) -> syn::Result<TokenStream> {
    let rt = args.private();
    match &args.ttl {
        Some(TtlArg::Policy(path)) => {
            let rt = args.private_at(path.span());
            Ok(quote_spanned! {path.span()=>
                #rt::Ttl::Policy(&#path)
            })
        }
        Some(TtlArg::Millis(millis)) => Ok(quote! {
            #rt::Ttl::Fixed(::core::time::Duration::from_millis(#millis))
        }),
        None => {
            let message = "missing `ttl`: add `ttl = Policy::StockPrice` (a policy variant) or `ttl = \"5m\"` (a duration)";
            Err(if args_tokens.is_empty() {
                syn::Error::new(Span::call_site(), message)
            } else {
                syn::Error::new_spanned(args_tokens, message)
            })
        }
    }
}

fn tenant_tokens(args: &CachedArgs, info: &FnInfo) -> syn::Result<TokenStream> {
    match &args.tenant {
        Some(name) => {
            let rt = args.private_at(name.span());
            info.find(&name.unraw().to_string(), name.span(), Reference::Tenant)?;
            Ok(quote_spanned! {name.span()=>
                ::core::option::Option::Some(#rt::tenant_arg(#rt::tenant_id(&#name)))
            })
        }
        None => Ok(quote!(::core::option::Option::None)),
    }
}

/// One step of building a key at run time.
pub(crate) enum KeyStep {
    Text(String),
    /// An argument value; `span` is where a value that cannot be part of a key is reported.
    Arg {
        value: TokenStream,
        span: Span,
        /// The argument it reads, when it reads one.
        root: Option<String>,
    },
    /// The start of a tag named so; the following `Arg`s are its values.
    Tag(String),
    FunctionName,
    /// The generic arguments the function is instantiated with, if any, as the type name of a
    /// closure in it (a nested `fn` cannot see them; a closure's type carries them all).
    Instance,
}

impl KeyStep {
    /// The statement that writes this step into `call`.
    pub(crate) fn tokens(&self, call: &Ident, args: &CachedArgs) -> TokenStream {
        match self {
            KeyStep::Text(text) => quote!(#call.text(#text);),
            KeyStep::Arg { value, span, .. } => {
                let rt = args.private_at(*span);
                quote_spanned! {*span=>
                    #rt::Call::arg(&mut #call, &#value);
                }
            }
            KeyStep::Tag(name) => quote!(#call.tag(#name);),
            KeyStep::FunctionName => quote!(#call.function_name();),
            KeyStep::Instance => quote! {
                #call.instance(::core::any::type_name_of_val(&|| ()));
            },
        }
    }
}

fn tag_steps(args: &CachedArgs, info: &FnInfo) -> syn::Result<Vec<KeyStep>> {
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for lit in args.tags.iter().flatten() {
        match template::parse_tag(lit) {
            Ok(tag) => {
                steps.push(KeyStep::Tag(tag.name));
                for value in &tag.values {
                    match placeholder_value(value, info, lit, &args.private_at(lit.span())) {
                        Ok(step) => steps.push(step),
                        Err(error) => errors.push(error),
                    }
                }
            }
            Err(error) => errors.push(error),
        }
    }
    match combine(errors) {
        Some(errors) => Err(errors),
        None => Ok(steps),
    }
}

fn key_steps(args: &CachedArgs, info: &FnInfo) -> syn::Result<Vec<KeyStep>> {
    match &args.key {
        Some(lit) => key_from_template(args, lit, info),
        None => key_from_arguments(info),
    }
}

fn key_from_template(args: &CachedArgs, lit: &LitStr, info: &FnInfo) -> syn::Result<Vec<KeyStep>> {
    let template = template::parse(lit)?;
    let rt = args.private_at(lit.span());
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for piece in &template.pieces {
        match piece {
            Piece::Text(text) => steps.push(KeyStep::Text(text.clone())),
            Piece::Arg(placeholder) => match placeholder_value(placeholder, info, lit, &rt) {
                Ok(step) => steps.push(step),
                Err(error) => errors.push(error),
            },
        }
    }
    match combine(errors) {
        Some(errors) => Err(errors),
        None => Ok(steps),
    }
}

/// `{root.field.0}` as an expression spanned on the template literal. The fields resolve with
/// mixed-site hygiene: a misspelt field is reported on the literal without rustc suggesting to
/// replace the whole literal with the field's name.
fn placeholder_value(
    placeholder: &Placeholder,
    info: &FnInfo,
    lit: &LitStr,
    rt: &TokenStream,
) -> syn::Result<KeyStep> {
    let span = lit.span();
    let root = if placeholder.root == "self" {
        if info.receiver.is_none() {
            return Err(syn::Error::new(
                span,
                format!(
                    "`{{{}}}` needs a method that takes `self`; this function has no receiver",
                    placeholder.display()
                ),
            ));
        }
        quote_spanned!(span=> self)
    } else {
        let mut ident = info.find(
            &placeholder.root,
            span,
            Reference::Placeholder(&placeholder.display()),
        )?;
        ident.set_span(span);
        ident.into_token_stream()
    };
    let field_span = Span::mixed_site().located_at(span);
    let fields = placeholder.fields.iter().map(|field| match field {
        Field::Index(index) => syn::Index {
            index: *index,
            span: field_span,
        }
        .into_token_stream(),
        Field::Name(name) => template::ident(name, field_span).into_token_stream(),
    });
    let value = quote_spanned!(span=> (#root #(.#fields)*));
    let value = match placeholder.normaliser {
        Some(normaliser) => {
            let function = Ident::new(normaliser.function(), span);
            quote_spanned!(span=> #rt::normalise::#function(&#value))
        }
        None => value,
    };
    Ok(KeyStep::Arg {
        value,
        span,
        root: (placeholder.root != "self").then(|| placeholder.root.clone()),
    })
}

fn key_from_arguments(info: &FnInfo) -> syn::Result<Vec<KeyStep>> {
    if let Some(span) = info.receiver {
        return Err(syn::Error::new(
            span,
            "`#[cached]` on a method needs an explicit `key = \"…\"`: a derived key cannot tell receivers apart; name the arguments (and `{self.field}` if instances differ)",
        ));
    }
    if let Some(span) = info.unnamed.first() {
        return Err(syn::Error::new(
            *span,
            "a derived key needs every argument to have a plain name: bind this argument to a name or write `key = \"…\"`",
        ));
    }
    let mut steps = vec![KeyStep::FunctionName];
    for param in &info.params {
        steps.push(KeyStep::Text(":".to_owned()));
        let ident = &param.ident;
        steps.push(KeyStep::Arg {
            value: quote!(#ident),
            span: ident.span(),
            root: Some(ident.unraw().to_string()),
        });
    }
    // The function's instance: `Svc::<u8>::load` and `Svc::<u64>::load`, `load::<User>` and
    // `load::<Order>` are different calls.
    steps.push(KeyStep::Instance);
    Ok(steps)
}
