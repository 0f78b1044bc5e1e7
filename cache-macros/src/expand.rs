//! Code generation for `#[cached]`, and the fallback that emits the function unchanged next to
//! the errors when the attribute or the function is wrong.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat};

use crate::args::{self, CachedArgs, TtlArg};
use crate::signature::{self, FnInfo, Generic, Reference};
use crate::template::{self, Piece, Placeholder};

/// Entry point of `#[cached]`: the wrapped function, or the function unchanged plus the errors.
pub(crate) fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = args::parse(args.clone());
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => return not_a_function(item, &parsed.args),
    };
    let checked = match parsed.errors {
        Some(errors) => Err(errors),
        None => check(&parsed.args, &args, &function),
    };
    match checked {
        Ok(checked) => expand(&parsed.args, &function, checked),
        Err(errors) => fallback(function, &parsed.args, errors),
    }
}

/// All `errors` as one, or `None` when there are none.
pub(crate) fn combine(errors: impl IntoIterator<Item = syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut all, error| {
        all.combine(error);
        all
    })
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

/// The function as written, plus the errors. The attribute's tokens disappear with it, so the
/// names only they used (the policy's import, arguments that only the key reads) are touched
/// here: otherwise "unused" warnings would pile up next to the real error.
fn fallback(mut function: ItemFn, args: &CachedArgs, errors: syn::Error) -> TokenStream {
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
fn not_a_function(item: TokenStream, args: &CachedArgs) -> TokenStream {
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

/// What the checks produced, ready for generation.
struct Checked {
    ttl: TokenStream,
    key: Vec<KeyStep>,
    tenant: TokenStream,
}

/// Checks the attribute against the function, reporting every problem at once.
fn check(args: &CachedArgs, args_tokens: &TokenStream, function: &ItemFn) -> syn::Result<Checked> {
    let mut errors = Vec::new();
    let ttl = collect(&mut errors, ttl_tokens(args, args_tokens));
    let (key, tenant) = match signature::read(function) {
        Ok(info) => (
            collect(&mut errors, key_steps(args, &info)),
            collect(&mut errors, tenant_tokens(args, &info)),
        ),
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
        None => Ok(Checked { ttl, key, tenant }),
    }
}

/// The value of `result`, or a placeholder once its error is recorded in `errors`.
fn collect<T: Default>(errors: &mut Vec<syn::Error>, result: syn::Result<T>) -> T {
    result.unwrap_or_else(|error| {
        errors.push(error);
        T::default()
    })
}

// Input:
//     #[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
//     async fn quote(ticker: &str) -> Result<Quote, Error> { body }
// Output:
//     async fn quote(ticker: &str) -> Result<Quote, Error> {
//         static SITE: Site = Site::new("path::quote", Ttl::Policy(&Policy::StockPrice), ..);
//         let mut call = Call::begin(&SITE, None);
//         if call.is_active() { call.text("quote:"); Call::arg(&mut call, &ticker); }
//         Call::run(call, <Result adapter, checked cacheable>, <error sharing>, async move { body })
//             .await
//     }
// Everything that depends on the return type is spanned on it (on `T` in `Result<T, E>`), so that
// a type the cache cannot store is reported there, once.
fn expand(args: &CachedArgs, function: &ItemFn, checked: Checked) -> TokenStream {
    let Checked { ttl, key, tenant } = checked;
    let require_tenant = args.require_tenant.is_some();
    let version = args.version.unwrap_or(0);

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let name = sig.ident.to_string();
    let output = signature::output_type(&sig.output);
    let output_span = signature::stored_type_span(&output);
    let call = Ident::new("__cache_call", Span::mixed_site());
    let unreachable = Ident::new(
        "__cache_unreachable",
        Span::mixed_site().located_at(output_span),
    );
    // The adapter and the sharing are arguments of `run`, not locals: rustc points a bound that
    // fails on an argument at that argument, and these are spanned on the return type.
    let shape_traits = quote_spanned! {output_span=>
        #[allow(unused_imports)]
        use ::cache_runtime::__private::shape::{AsOption as _, AsPlain as _, AsResult as _, Cloned as _, NotCloned as _};
    };
    let adapter = quote_spanned! {output_span=>
        {
            #shape_traits
            ::cache_runtime::__private::cache_value(
                (&&::cache_runtime::__private::shape::Probe::<#output>::new()).adapter(),
            )
        }
    };
    let share = quote_spanned! {output_span=>
        {
            #shape_traits
            (&&::cache_runtime::__private::shape::Probe::<#output>::new()).share()
        }
    };
    let body = quote! {
        async move {
            // Pins the block's output to the declared return type, so `?` converts errors
            // exactly as in the original function.
            #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::let_unit_value)]
            if false {
                let #unreachable: #output = loop {};
                return #unreachable;
            }
            #block
        }
    };
    let run = quote_spanned! {output_span=>
        ::cache_runtime::__private::Call::run(#call, #adapter, #share, #body).await
    };
    let key_steps = key.iter().map(|step| step.tokens(&call));

    quote! {
        #(#attrs)*
        #vis #sig {
            static __CACHE_SITE: ::cache_runtime::__private::Site = ::cache_runtime::__private::Site::new(
                ::core::concat!(::core::module_path!(), "::", #name),
                #ttl,
                #version,
                #require_tenant,
            );
            let mut #call = ::cache_runtime::__private::Call::begin(&__CACHE_SITE, #tenant);
            if #call.is_active() {
                #(#key_steps)*
            }
            #run
        }
    }
}

fn ttl_tokens(args: &CachedArgs, args_tokens: &TokenStream) -> syn::Result<TokenStream> {
    match &args.ttl {
        Some(TtlArg::Policy(path)) => Ok(quote_spanned! {path.span()=>
            ::cache_runtime::__private::Ttl::Policy(&#path)
        }),
        Some(TtlArg::Millis(millis)) => Ok(quote! {
            ::cache_runtime::__private::Ttl::Fixed(::core::time::Duration::from_millis(#millis))
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
            info.find(&name.to_string(), name.span(), Reference::Tenant)?;
            Ok(quote_spanned! {name.span()=>
                ::core::option::Option::Some(::cache_runtime::__private::tenant_arg(
                    ::cache_runtime::__private::tenant_id(&#name),
                ))
            })
        }
        None => Ok(quote!(::core::option::Option::None)),
    }
}

/// One step of building a key at run time.
enum KeyStep {
    Text(String),
    /// An argument value; `span` is where a value that cannot be part of a key is reported.
    Arg {
        value: TokenStream,
        span: Span,
    },
    FunctionName,
}

impl KeyStep {
    fn tokens(&self, call: &Ident) -> TokenStream {
        match self {
            KeyStep::Text(text) => quote!(#call.text(#text);),
            KeyStep::Arg { value, span } => quote_spanned! {*span=>
                ::cache_runtime::__private::Call::arg(&mut #call, &#value);
            },
            KeyStep::FunctionName => quote!(#call.function_name();),
        }
    }
}

fn key_steps(args: &CachedArgs, info: &FnInfo) -> syn::Result<Vec<KeyStep>> {
    match &args.key {
        Some(lit) => key_from_template(lit, info),
        None => key_from_arguments(info),
    }
}

fn key_from_template(lit: &LitStr, info: &FnInfo) -> syn::Result<Vec<KeyStep>> {
    let template = template::parse(lit)?;
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for piece in &template.pieces {
        match piece {
            Piece::Text(text) => steps.push(KeyStep::Text(text.clone())),
            Piece::Arg(placeholder) => match placeholder_value(placeholder, info, lit) {
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
        info.find(
            &placeholder.root,
            span,
            Reference::Placeholder(&placeholder.display()),
        )?;
        Ident::new(&placeholder.root, span).into_token_stream()
    };
    let field_span = Span::mixed_site().located_at(span);
    let fields = placeholder
        .fields
        .iter()
        .map(|field| match field.parse::<u32>() {
            Ok(index) => syn::Index {
                index,
                span: field_span,
            }
            .into_token_stream(),
            Err(_) => Ident::new(field, field_span).into_token_stream(),
        });
    Ok(KeyStep::Arg {
        value: quote_spanned!(span=> (#root #(.#fields)*)),
        span,
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
        });
    }
    for generic in &info.generics {
        steps.push(KeyStep::Text(":".to_owned()));
        steps.push(match generic {
            Generic::Type(ident) => KeyStep::Arg {
                value: quote!(::core::any::type_name::<#ident>()),
                span: ident.span(),
            },
            Generic::Const(ident) => KeyStep::Arg {
                value: quote!(#ident),
                span: ident.span(),
            },
        });
    }
    Ok(steps)
}
