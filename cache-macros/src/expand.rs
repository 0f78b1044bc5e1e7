//! Code generation for `#[cached]`, `#[cache_put]` and `#[cache_evict]`, from what
//! [`crate::check`] produced.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat, Path};

use crate::args::{self, CachedArgs, Kind};
use crate::check::{self, Checked};
use crate::fallback;
use crate::signature;

/// Entry point of `#[cached]`, `#[cache_put]` and `#[cache_evict]`: the wrapped function, or
/// the function unchanged plus the errors.
pub(crate) fn attribute(args: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let parsed = args::parse(args.clone(), kind);
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => return fallback::not_a_function(item, &parsed.args),
    };
    let checked = match parsed.errors {
        Some(errors) => Err(errors),
        None => check::check(&parsed.args, &args, &function, kind),
    };
    match checked {
        Ok(checked) => match kind {
            Kind::Cached => expand(&parsed.args, &function, checked),
            Kind::Put => expand_put(&parsed.args, &function, checked),
            Kind::Evict => expand_evict(&parsed.args, &function, checked),
        },
        Err(errors) => fallback::fallback(function, &parsed.args, errors),
    }
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

/// The `Spec` of a `#[cached]` function from its own options, as an expression that needs
/// [`probe`] in scope.
fn spec(args: &CachedArgs, function: &ItemFn, checked: &Checked) -> TokenStream {
    let ttl = &checked.ttl;
    let require_tenant = args.require_tenant.is_some();
    let version = args.version.unwrap_or(0);
    let template = args.key.as_ref().map(LitStr::value).unwrap_or_default();
    let name = function.sig.ident.to_string();
    let mut options = Vec::new();
    if let Some(window) = args.stale_if_error {
        options.push(quote!(.stale_if_error(#window)));
    }
    if let Some((share, _)) = args.refresh_ahead {
        options.push(quote!(.refresh_ahead(#share)));
    }
    if let Some(lease) = args.lock {
        options.push(quote!(.lock(#lease)));
    }
    quote! {
        ::cache_runtime::__private::Spec::new(
            __cache_probe, #name, #ttl, #version, #require_tenant, #template,
        )#(#options)*
    }
}

/// A function nested where a spec is made: its path (module, impl type, enclosing functions)
/// is the cached function's identity.
fn probe() -> TokenStream {
    quote! {
        fn __cache_probe() -> &'static str {
            ::core::any::type_name_of_val(&__cache_probe)
        }
    }
}

/// `path::to::quote` -> `path::to::__cache_spec_quote`: the spec `#[cached]` emits beside
/// `quote`.
fn spec_path(function: &Path) -> Path {
    let mut path = function.clone();
    if let Some(last) = path.segments.last_mut() {
        last.ident = format_ident!("__cache_spec_{}", last.ident, span = last.ident.span());
        last.arguments = syn::PathArguments::None;
    }
    path
}

/// `static __CACHE_SITE`, from the attribute's own options, or from the `#[cached]` function
/// named by `function = …` (whose key template must then be the one written here).
fn site(args: &CachedArgs, function: &ItemFn, checked: &Checked, kind: Kind) -> TokenStream {
    let borrowed = match (&args.function, kind) {
        (Some(path), Kind::Put) => Some(path),
        (Some(path), Kind::Evict) if args.key.is_some() => Some(path),
        _ => None,
    };
    let Some(target) = borrowed else {
        let probe = probe();
        let spec = spec(args, function, checked);
        return quote! {
            #probe
            static __CACHE_SITE: ::cache_runtime::__private::Site =
                ::cache_runtime::__private::Site::new(#spec);
        };
    };
    let spec_path = spec_path(target);
    let check = args.key.as_ref().map(|key| {
        quote_spanned! {key.span()=>
            const _: () = ::core::assert!(
                #spec_path().has_template(#key),
                "this key template differs from the one of the #[cached] function named by `function = …`: write that function's template"
            );
        }
    });
    quote! {
        #check
        static __CACHE_SITE: ::cache_runtime::__private::Site =
            ::cache_runtime::__private::Site::new(#spec_path());
    }
}

fn parts(args: &CachedArgs, function: &ItemFn, checked: &Checked, kind: Kind) -> Parts {
    let Checked {
        key, tags, tenant, ..
    } = checked;
    let site = site(args, function, checked, kind);
    let sig = &function.sig;
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
    // The body's statements, not its block: `async move { { x } }` would be linted as
    // `unused_braces`, pointing at the user's braces.
    let stmts = &function.block.stmts;
    let body = quote! {
        async move {
            // Pins the block's output to the declared return type, so `?` converts errors
            // exactly as in the original function.
            #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::let_unit_value)]
            if false {
                let #unreachable: #output = loop {};
                return #unreachable;
            }
            #(#stmts)*
        }
    };
    let steps = key.iter().chain(tags).map(|step| step.tokens(&call));
    let prelude = quote! {
        #site
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
    } = parts(args, function, &checked, Kind::Cached);
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
    let companion = (!checked.receiver).then(|| {
        let entry = companion(args, function, &checked);
        let spec = spec_item(args, function, &checked);
        quote!(#entry #spec)
    });
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
    } = parts(args, function, checked, Kind::Cached);
    let sig = &function.sig;
    let vis = &function.vis;
    let name = &sig.ident;
    let companion = format_ident!("{}_cache", name);
    let params = sig.inputs.iter().filter_map(|input| match input {
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(pat) if checked.used.iter().any(|used| pat.ident.unraw() == used) => {
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

/// `const fn __cache_spec_<name>() -> Spec`: the function's TTL, version, key template and
/// identity, through which `#[cache_put(function = name)]` and `#[cache_evict(function = name)]`
/// use them instead of restating them.
fn spec_item(args: &CachedArgs, function: &ItemFn, checked: &Checked) -> TokenStream {
    let vis = &function.vis;
    let name = format_ident!("__cache_spec_{}", function.sig.ident);
    let probe = probe();
    let spec = spec(args, function, checked);
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case, dead_code)]
        #vis const fn #name() -> ::cache_runtime::__private::Spec {
            #probe
            #spec
        }
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
            ::cache_runtime::__private::Call::put_result(#call, #adapter, &#result).await;
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
                    static __CACHE_TARGET: ::cache_runtime::__private::Site =
                        ::cache_runtime::__private::Site::new(#spec_path());
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
            let __cache_eviction = ::cache_runtime::__private::Eviction {
                key: #key,
                function: #function,
                tenant_entries: #tenant_entries,
            };
            ::cache_runtime::__private::Call::evict(#call, #adapter_unchecked, &#result, __cache_eviction).await;
            #result
        }
    }
}
