//! Code generation for `#[cached]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, LitStr};

use crate::args::{CachedArgs, TtlArg};
use crate::signature::{self, FnInfo};
use crate::template::{self, Piece, Placeholder, Template};

/// Entry point of `#[cached]`: the wrapped function, or the function unchanged plus the error.
pub(crate) fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[cached]` goes on an `async fn` (a free function or a method)",
            );
            return with_error(item, error);
        }
    };
    match syn::parse2::<CachedArgs>(args).and_then(|args| expand(&args, &function)) {
        Ok(tokens) => tokens,
        Err(error) => with_error(function.into_token_stream(), error),
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

// Input:
//     #[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
//     async fn quote(ticker: &str) -> Result<Quote, Error> { body }
// Output:
//     async fn quote(ticker: &str) -> Result<Quote, Error> {
//         static SITE: Site = Site::new("path::quote", Ttl::Policy(&Policy::StockPrice), ..);
//         let mut call = Call::begin(&SITE, None);
//         if call.is_active() { call.text("quote:"); call.arg(&ticker); }
//         call.run(<Result adapter>, <error sharing>, async move { body }).await
//     }
fn expand(args: &CachedArgs, function: &ItemFn) -> syn::Result<TokenStream> {
    let info = signature::read(function)?;
    let ttl = ttl_tokens(args)?;
    let key = match &args.key {
        Some(lit) => {
            let template = template::parse(lit)?;
            key_from_template(&template, &info, lit)?
        }
        None => key_from_arguments(&info)?,
    };
    let tenant = match &args.tenant {
        Some(name) => {
            find_param(&info, name)?;
            quote_spanned! {name.span()=>
                ::core::option::Option::Some(::cache_runtime::__private::tenant_arg(&#name))
            }
        }
        None => quote!(::core::option::Option::None),
    };
    if let (Some(span), Some(_)) = (args.require_tenant, &args.tenant) {
        return Err(syn::Error::new(
            span,
            "`require_tenant` and `tenant = …` exclude each other: a tenant argument is always present",
        ));
    }
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
    let output_span = output.span();
    let call = Ident::new("__cache_call", Span::mixed_site());
    let run = Ident::new("run", output_span);
    let adapter = quote_spanned! {output_span=>
        {
            #[allow(unused_imports)]
            use ::cache_runtime::__private::shape::{AsOption as _, AsPlain as _, AsResult as _, Cloned as _, NotCloned as _};
            let __cache_probe = ::cache_runtime::__private::shape::Probe::<#output>::new();
            ((&&__cache_probe).adapter(), (&&__cache_probe).share())
        }
    };
    let key_steps = key.iter().map(|step| step.tokens(&call));

    Ok(quote! {
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
            let (__cache_adapter, __cache_share) = #adapter;
            #call.#run(__cache_adapter, __cache_share, async move {
                // Pins the block's output to the declared return type, so `?` converts errors
                // exactly as in the original function.
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::let_unit_value)]
                if false {
                    let __cache_unreachable: #output = loop {};
                    return __cache_unreachable;
                }
                #block
            }).await
        }
    })
}

fn ttl_tokens(args: &CachedArgs) -> syn::Result<TokenStream> {
    match &args.ttl {
        Some(TtlArg::Policy(path)) => Ok(quote_spanned! {path.span()=>
            ::cache_runtime::__private::Ttl::Policy(&#path)
        }),
        Some(TtlArg::Millis(millis)) => Ok(quote! {
            ::cache_runtime::__private::Ttl::Fixed(::core::time::Duration::from_millis(#millis))
        }),
        None => Err(syn::Error::new(
            Span::call_site(),
            "missing `ttl`: add `ttl = Policy::StockPrice` (a policy variant) or `ttl = \"5m\"`",
        )),
    }
}

/// One step of building a key at run time.
enum KeyStep {
    Text(String),
    Arg(TokenStream),
    FunctionName,
}

impl KeyStep {
    fn tokens(&self, call: &Ident) -> TokenStream {
        match self {
            KeyStep::Text(text) => quote!(#call.text(#text);),
            KeyStep::Arg(value) => quote!(#call.arg(&#value);),
            KeyStep::FunctionName => quote!(#call.function_name();),
        }
    }
}

fn key_from_template(
    template: &Template,
    info: &FnInfo,
    lit: &LitStr,
) -> syn::Result<Vec<KeyStep>> {
    template
        .pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => Ok(KeyStep::Text(text.clone())),
            Piece::Arg(placeholder) => placeholder_value(placeholder, info, template.span, lit),
        })
        .collect()
}

fn placeholder_value(
    placeholder: &Placeholder,
    info: &FnInfo,
    span: Span,
    lit: &LitStr,
) -> syn::Result<KeyStep> {
    let root = if placeholder.root == "self" {
        if info.receiver.is_none() {
            return Err(syn::Error::new(
                span,
                "`{self…}` in a key template needs a method that takes `self`",
            ));
        }
        quote_spanned!(span=> self)
    } else {
        let known = info.params.iter().any(|p| p.ident == placeholder.root);
        if !known {
            return Err(syn::Error::new(
                lit.span(),
                unknown_argument(&placeholder.root, info),
            ));
        }
        let ident = Ident::new(&placeholder.root, span);
        quote!(#ident)
    };
    let fields = placeholder
        .fields
        .iter()
        .map(|field| match field.parse::<u32>() {
            Ok(index) => syn::Index { index, span }.into_token_stream(),
            Err(_) => Ident::new(field, span).into_token_stream(),
        });
    Ok(KeyStep::Arg(quote_spanned!(span=> (#root #(.#fields)*))))
}

fn unknown_argument(name: &str, info: &FnInfo) -> String {
    let names: Vec<String> = info
        .params
        .iter()
        .map(|p| format!("`{}`", p.ident))
        .chain(info.receiver.map(|_| "`self`".to_owned()))
        .collect();
    if names.is_empty() {
        format!("`{{{name}}}` names no argument: this function takes no arguments, so its key template cannot have placeholders")
    } else {
        format!(
            "`{{{name}}}` names no argument of this function; its arguments are {}",
            names.join(", ")
        )
    }
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
        steps.push(KeyStep::Arg(quote!(#ident)));
    }
    Ok(steps)
}

fn find_param(info: &FnInfo, name: &Ident) -> syn::Result<()> {
    if info.params.iter().any(|p| p.ident == *name) {
        Ok(())
    } else {
        Err(syn::Error::new(
            name.span(),
            unknown_argument(&name.to_string(), info),
        ))
    }
}
