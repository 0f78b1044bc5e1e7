//! Code generation for `#[cached]`, `#[cache_put]` and `#[cache_evict]`, from what
//! [`crate::check`] produced.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, LitStr, Path};

use crate::args::{self, CachedArgs, Companion, CompressArg, Kind};
use crate::check::{self, Checked};
use crate::fallback;
use crate::signature;

mod batch;
mod companion;
mod invalidation;
#[cfg(test)]
mod tests;

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
            Kind::Put => invalidation::expand_put(&parsed.args, &function, checked),
            Kind::Evict => invalidation::expand_evict(&parsed.args, &function, checked),
        },
        Err(errors) => fallback::fallback(function, &parsed.args, errors),
    }
}

/// The pieces every expansion shares: the call site's `static`, the key (and tags) built into a
/// `Call`, and the return-type dispatch, all spanned as documented on [`expand`].
struct Parts {
    /// `::cache_runtime`, or the path `crate = "…"` gives.
    krate: TokenStream,
    /// `<krate>::__private`.
    rt: TokenStream,
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
    let rt = args.private();
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
    // Spanned at the option's value: a codec or compression whose cargo feature is off is
    // reported there, by the runtime's marker trait (see `__private::features`).
    if let Some(codec) = &args.codec {
        let rt = args.private_at(codec.span);
        let marker = Ident::new(codec.marker, codec.span);
        options.push(quote_spanned!(codec.span=> .codec(#rt::codec::<#rt::#marker>())));
    }
    match &args.compress_above {
        Some(CompressArg::Above(bytes, span)) => {
            let rt = args.private_at(*span);
            let bytes = proc_macro2::Literal::u64_unsuffixed(*bytes);
            options.push(
                quote_spanned!(*span=> .compress_above(#rt::compress_above::<#rt::Lz4>(#bytes))),
            );
        }
        Some(CompressArg::Off) => options.push(quote!(.uncompressed())),
        None => {}
    }
    quote! {
        #rt::Spec::new(
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
    let rt = args.private();
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
            static __CACHE_SITE: #rt::Site =
                #rt::Site::new(#spec);
        };
    };
    let spec_path = spec_path(target);
    let check = args.key.as_ref().map(|key| {
        quote_spanned! {key.span()=>
            const _: () = ::core::assert!(
                #spec_path.has_template(#key),
                "this key template differs from the one of the #[cached] function named by `function = …`: write that function's template"
            );
        }
    });
    quote! {
        #check
        static __CACHE_SITE: #rt::Site =
            #rt::Site::new(#spec_path);
    }
}

fn parts(args: &CachedArgs, function: &ItemFn, checked: &Checked, kind: Kind) -> Parts {
    let Checked {
        key, tags, tenant, ..
    } = checked;
    let site = site(args, function, checked, kind);
    let krate = args.krate();
    let rt = args.private();
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
    let rt_out = args.private_at(output_span);
    let shape_traits = quote_spanned! {output_span=>
        #[allow(unused_imports)]
        use #rt_out::shape::{
            AsOption as _, AsOptionTyped as _, AsPlain as _, AsPlainTyped as _, AsResult as _,
            AsResultTyped as _, Cloned as _, NotCloned as _,
        };
    };
    let adapter_unchecked = quote_spanned! {output_span=>
        {
            #shape_traits
            (&&&#rt_out::shape::Probe::<#output>::new()).adapter()
        }
    };
    let adapter = quote_spanned! {output_span=>
        #rt_out::cache_value(#adapter_unchecked)
    };
    let share = quote_spanned! {output_span=>
        {
            #shape_traits
            (&&#rt_out::shape::Probe::<#output>::new()).share()
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
    let steps = key.iter().chain(tags).map(|step| step.tokens(&call, args));
    let prelude = quote! {
        #site
        let mut #call = #rt::Call::begin(&__CACHE_SITE, #tenant);
        if #call.is_active() {
            #(#steps)*
        }
    };
    Parts {
        krate,
        rt,
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
    if let Some(info) = &checked.batch {
        return batch::expand(args, function, &checked, info);
    }
    let Parts {
        prelude,
        call,
        output,
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
    let rt_out = args.private_at(output_span);
    let run = quote_spanned! {output_span=>
        #rt_out::Call::#run(#call, #adapter, #share, #body).await
    };
    let bounds = bounds(args, &output);
    let ItemFn {
        attrs, vis, sig, ..
    } = function;
    let companion = match &args.companion {
        _ if checked.receiver => None,
        Some(Companion::Off) => None,
        Some(Companion::Named(name)) => Some(companion::items(args, function, &checked, name)),
        Some(Companion::Default) | None => {
            let name = format_ident!("{}_cache", sig.ident);
            Some(companion::items(args, function, &checked, &name))
        }
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #bounds
            #prelude
            #run
        }
        #companion
    }
}

/// Checks of the return type as a whole, spanned on it (on its first token): it is `Send` and
/// `Sync`, which the function's future needs since the cache holds the result across `.await`,
/// and, with `stale_if_error`, it is a `Result`.
fn bounds(args: &CachedArgs, output: &syn::Type) -> TokenStream {
    let span = output.span();
    let rt = args.private_at(span);
    let stale = args.stale_if_error.map(|_| {
        quote_spanned! {span=>
            #rt::stale_if_error_needs_a_result(#rt::shape::Probe::<#output>::new());
        }
    });
    quote_spanned! {span=>
        #rt::result_must_be_send_and_sync(#rt::shape::Probe::<#output>::new());
        #stale
    }
}
