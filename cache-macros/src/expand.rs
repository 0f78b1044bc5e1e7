//! Code generation for `#[cached]`, and the fallback that emits the function unchanged next to
//! the errors when the attribute or the function is wrong.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat};

use crate::args::{self, CachedArgs, Kind, TtlArg};
use crate::signature::{self, FnInfo, Generic, Reference};
use crate::template::{self, Piece, Placeholder};

/// Entry point of `#[cached]`, `#[cache_put]` and `#[cache_evict]`: the wrapped function, or
/// the function unchanged plus the errors.
pub(crate) fn attribute(args: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let parsed = args::parse(args.clone(), kind);
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => return not_a_function(item, &parsed.args),
    };
    let checked = match parsed.errors {
        Some(errors) => Err(errors),
        None => check(&parsed.args, &args, &function, kind),
    };
    match checked {
        Ok(checked) => match kind {
            Kind::Cached => expand(&parsed.args, &function, checked),
            Kind::Put => expand_put(&parsed.args, &function, checked),
            Kind::Evict => expand_evict(&parsed.args, &function, checked),
        },
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
    tags: Vec<KeyStep>,
    tenant: TokenStream,
    /// The arguments the key, the tags and the tenant read, for the companion's signature.
    used: Vec<String>,
    receiver: bool,
}

/// Checks the attribute against the function, reporting every problem at once.
fn check(
    args: &CachedArgs,
    args_tokens: &TokenStream,
    function: &ItemFn,
    kind: Kind,
) -> syn::Result<Checked> {
    let mut errors = Vec::new();
    let ttl = if kind == Kind::Evict {
        quote!(::cache_runtime::__private::Ttl::Fixed(
            ::core::time::Duration::from_millis(1)
        ))
    } else {
        collect(&mut errors, ttl_tokens(args, args_tokens))
    };
    if kind == Kind::Put && args.function.is_none() {
        errors.push(syn::Error::new(
            span_of(args_tokens),
            "name the `#[cached]` function whose entry this writes, e.g. `function = quote`, so that invalidating that function also drops what was put",
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
    let (key, tags, tenant) = match signature::read(function) {
        Ok(info) => {
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
                used.push(name.to_string());
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
        }),
    }
}

fn span_of(tokens: &TokenStream) -> Span {
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
        FnArg::Typed(typed) if matches!(&*typed.ty, syn::Type::Reference(_)) => {
            Some(typed.ty.span())
        }
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

/// The pieces every expansion shares: the call site's `static`, the key (and tags) built into a
/// `Call`, and the return-type dispatch, all spanned as documented on [`expand`].
struct Parts {
    /// `static __CACHE_SITE` and `let mut __cache_call = …` with the key and tags written.
    prelude: TokenStream,
    call: Ident,
    output: syn::Type,
    output_span: Span,
    /// `Adapter<R, T>` for the return type, checked to be storable.
    adapter: TokenStream,
    /// The same without the storable check (`#[cache_evict]` stores nothing).
    adapter_unchecked: TokenStream,
    /// `Option<Share<R>>`.
    share: TokenStream,
    /// The body as an `async move` block whose output is pinned to the return type.
    body: TokenStream,
}

fn parts(args: &CachedArgs, function: &ItemFn, checked: &Checked) -> Parts {
    let Checked {
        ttl,
        key,
        tags,
        tenant,
        ..
    } = checked;
    let require_tenant = args.require_tenant.is_some();
    let version = args.version.unwrap_or(0);
    let mut site_options = Vec::new();
    if let Some(window) = args.stale_if_error {
        site_options.push(quote!(.stale_if_error(#window)));
    }
    if let Some((share, _)) = args.refresh_ahead {
        site_options.push(quote!(.refresh_ahead(#share)));
    }
    if let Some(lease) = args.lock {
        site_options.push(quote!(.lock(#lease)));
    }
    let sig = &function.sig;
    let block = &function.block;
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
        use ::cache_runtime::__private::shape::{
            AsOption as _, AsOptionTyped as _, AsPlain as _, AsPlainTyped as _, AsResult as _,
            AsResultTyped as _, Cloned as _, NotCloned as _,
        };
    };
    let adapter_unchecked = quote_spanned! {output_span=>
        {
            #shape_traits
            (&&&::cache_runtime::__private::shape::Probe::<#output>::new()).adapter()
        }
    };
    let adapter = quote_spanned! {output_span=>
        ::cache_runtime::__private::cache_value(#adapter_unchecked)
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
    let steps = key.iter().chain(tags).map(|step| step.tokens(&call));
    let prelude = quote! {
        static __CACHE_SITE: ::cache_runtime::__private::Site = ::cache_runtime::__private::Site::new(
            ::core::concat!(::core::module_path!(), "::", #name),
            #ttl,
            #version,
            #require_tenant,
        )#(#site_options)*;
        let mut #call = ::cache_runtime::__private::Call::begin(&__CACHE_SITE, #tenant);
        if #call.is_active() {
            #(#steps)*
        }
    };
    Parts {
        prelude,
        call,
        output,
        output_span,
        adapter,
        adapter_unchecked,
        share,
        body,
    }
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
//     /// The cache entry `quote(ticker)` reads and writes.
//     fn quote_cache(ticker: &str) -> CacheEntry<Result<Quote, Error>> { /* same key */ }
// Everything that depends on the return type is spanned on it (on `T` in `Result<T, E>`), so that
// a type the cache cannot store is reported there, once.
fn expand(args: &CachedArgs, function: &ItemFn, checked: Checked) -> TokenStream {
    let Parts {
        prelude,
        call,
        output_span,
        adapter,
        share,
        body,
        ..
    } = parts(args, function, &checked);
    let run = if args.refresh_ahead.is_some() {
        quote!(run_refreshing)
    } else {
        quote!(run)
    };
    // Spanned on the return type as a whole, so that a type the cache cannot store is reported
    // there once, not once more at the attribute for `run`'s own bounds.
    let run = quote_spanned! {output_span=>
        ::cache_runtime::__private::Call::#run(#call, #adapter, #share, #body).await
    };
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let companion = (!checked.receiver).then(|| companion(args, function, &checked));
    quote! {
        #(#attrs)*
        #vis #sig {
            #prelude
            #run
        }
        #companion
    }
}

/// `fn <name>_cache(<the arguments the key reads>) -> CacheEntry<R>`: the entry that a call with
/// these arguments reads and writes, built from the same template, so that an eviction key can
/// never drift from the cache key. Methods get none: a sibling item could not be placed in a
/// trait implementation.
fn companion(args: &CachedArgs, function: &ItemFn, checked: &Checked) -> TokenStream {
    let Parts {
        prelude,
        call,
        output,
        ..
    } = parts(args, function, checked);
    let sig = &function.sig;
    let vis = &function.vis;
    let name = &sig.ident;
    let companion = format_ident!("{}_cache", name);
    let params = sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(pat) if checked.used.iter().any(|used| pat.ident == used) => {
                let ident = &pat.ident;
                let ty = &typed.ty;
                Some(quote!(#ident: #ty))
            }
            _ => None,
        },
        FnArg::Receiver(_) => None,
    });
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let doc = format!(
        "The cache entry that [`{name}`] reads and writes for these arguments: its key, a read \
         that does not compute, an invalidation and a put. Generated by `#[cached]`."
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code, clippy::needless_lifetimes)]
        #vis fn #companion #generics (#(#params),*) -> ::cache_runtime::CacheEntry<#output> #where_clause {
            #prelude
            #[allow(unused_imports)]
            use ::cache_runtime::__private::shape::{CodecNone as _, CodecOption as _, CodecPlain as _, CodecResult as _};
            let __cache_codec = (&&&::cache_runtime::__private::shape::Probe::<#output>::new()).codec();
            ::cache_runtime::CacheEntry::new(#call, __cache_codec)
        }
    }
}

/// The path `#[cached]` names the entries of the function in `function = …` by.
fn function_path(args: &CachedArgs) -> TokenStream {
    match &args.function {
        // In a nested item, which sees the module's items but not the function's arguments: an
        // argument named like the function cannot take its place.
        Some(path) => quote_spanned! {path.span()=>
            {
                fn __cache_function() -> &'static str {
                    ::cache_runtime::__private::function_path(&#path)
                }
                __cache_function()
            }
        },
        None => quote!(""),
    }
}

// Input:
//     #[cache_put(key = "rate:{base}", ttl = Ttl::Rate)]
//     async fn set_rate(base: &str, rate: f64) -> Result<f64, Error> { body }
// Output: the body always runs; a cacheable result is stored under the key, then returned.
fn expand_put(args: &CachedArgs, function: &ItemFn, checked: Checked) -> TokenStream {
    let Parts {
        prelude,
        call,
        output,
        adapter,
        body,
        ..
    } = parts(args, function, &checked);
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let result = Ident::new("__cache_result", Span::mixed_site());
    let function_path = function_path(args);
    quote! {
        #(#attrs)*
        #vis #sig {
            #prelude
            let #result: #output = #body.await;
            ::cache_runtime::__private::Call::put_result(#call, #adapter, &#result, #function_path).await;
            #result
        }
    }
}

// Input:
//     #[cache_evict(key = "rate:{base}", tags = ["currency:{base}"])]
//     async fn update_rate(base: &str, rate: f64) -> Result<(), Error> { body }
// Output: the body runs; if it succeeded (anything but `Err`), the named entries are deleted,
// then the result is returned. A failed eviction is logged and counted, not returned.
fn expand_evict(args: &CachedArgs, function: &ItemFn, checked: Checked) -> TokenStream {
    let Parts {
        prelude,
        call,
        output,
        adapter_unchecked,
        body,
        ..
    } = parts(args, function, &checked);
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let result = Ident::new("__cache_result", Span::mixed_site());
    let key = args.key.is_some();
    let tenant_entries = args.tenant_entries.is_some();
    let function_path = match &args.function {
        Some(_) => {
            let path = function_path(args);
            quote!(::core::option::Option::Some(#path))
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #prelude
            let #result: #output = #body.await;
            let __cache_eviction = ::cache_runtime::__private::Eviction {
                key: #key,
                function: #function_path,
                tenant_entries: #tenant_entries,
            };
            ::cache_runtime::__private::Call::evict(#call, #adapter_unchecked, &#result, __cache_eviction).await;
            #result
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
        /// The argument it reads, when it reads one.
        root: Option<String>,
    },
    /// The start of a tag named so; the following `Arg`s are its values.
    Tag(String),
    FunctionName,
}

impl KeyStep {
    fn tokens(&self, call: &Ident) -> TokenStream {
        match self {
            KeyStep::Text(text) => quote!(#call.text(#text);),
            KeyStep::Arg { value, span, .. } => quote_spanned! {*span=>
                ::cache_runtime::__private::Call::arg(&mut #call, &#value);
            },
            KeyStep::Tag(name) => quote!(#call.tag(#name);),
            KeyStep::FunctionName => quote!(#call.function_name();),
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
                    match placeholder_value(value, info, lit) {
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
            root: Some(ident.to_string()),
        });
    }
    for generic in &info.generics {
        steps.push(KeyStep::Text(":".to_owned()));
        steps.push(match generic {
            Generic::Type(ident) => KeyStep::Arg {
                value: quote!(::core::any::type_name::<#ident>()),
                span: ident.span(),
                root: None,
            },
            Generic::Const(ident) => KeyStep::Arg {
                value: quote!(#ident),
                span: ident.span(),
                root: None,
            },
        });
    }
    Ok(steps)
}
