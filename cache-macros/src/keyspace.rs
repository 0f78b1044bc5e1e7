//! `keyspace!`: a typed keyspace declared once, with accessors whose parameters are the
//! template's placeholders.
//!
//! ```text
//! // Input:
//! keyspace!(pub SESSIONS: Session = "session:{user_id}", ttl = Policy::UserSession);
//! // Output:
//! pub static SESSIONS: __cache_keyspace_SESSIONS = …;
//! pub struct __cache_keyspace_SESSIONS { inner: Keyspace<Session> }
//! impl __cache_keyspace_SESSIONS {
//!     pub async fn get(&self, user_id: impl KeyArg) -> Option<Session> { … }
//!     // set, delete, exists, ttl, touch, update, key
//! }
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitStr, Path, Token, Type, Visibility};

use crate::args::value::parse_ttl;
use crate::args::TtlArg;
use crate::template::{self, Piece};

struct KeyspaceDecl {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    ty: Type,
    template: LitStr,
    ttl: TtlArg,
    krate: Option<Path>,
}

const SHAPE: &str = "declare a keyspace as `keyspace!(pub SESSIONS: Session = \"session:{user_id}\", ttl = Policy::UserSession)`";

impl Parse for KeyspaceDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let name: Ident = input
            .parse()
            .map_err(|error| syn::Error::new(error.span(), SHAPE))?;
        input
            .parse::<Token![:]>()
            .map_err(|error| syn::Error::new(error.span(), SHAPE))?;
        let ty: Type = input.parse()?;
        input
            .parse::<Token![=]>()
            .map_err(|error| syn::Error::new(error.span(), SHAPE))?;
        let template: LitStr = input.parse().map_err(|error| {
            syn::Error::new(
                error.span(),
                "the key template is a string, e.g. `\"session:{user_id}\"`, where `{user_id}` becomes a parameter of every accessor",
            )
        })?;
        let (mut ttl, mut krate) = (None, None);
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let option: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            input.parse::<Token![=]>()?;
            match option.to_string().as_str() {
                "ttl" if ttl.is_none() => ttl = Some(parse_ttl(input)?),
                "crate" if krate.is_none() => {
                    let path: LitStr = input.parse()?;
                    krate = Some(path.parse()?);
                }
                "ttl" | "crate" => {
                    return Err(syn::Error::new(
                        option.span(),
                        format!("`{option}` set multiple times"),
                    ))
                }
                _ => {
                    return Err(syn::Error::new(
                        option.span(),
                        format!("unknown option `{option}`: a keyspace takes `ttl = …` and `crate = \"path\"`"),
                    ))
                }
            }
        }
        let ttl = ttl.ok_or_else(|| {
            syn::Error::new(
                template.span(),
                "missing `ttl`: add `, ttl = Policy::UserSession` (a policy variant) or `, ttl = \"30m\"` (a duration)",
            )
        })?;
        Ok(Self {
            attrs,
            vis,
            name,
            ty,
            template,
            ttl,
            krate,
        })
    }
}

/// One accessor parameter: a placeholder's name, and whether any placeholder normalises it.
struct Param {
    ident: Ident,
    text: bool,
    plain: bool,
}

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match syn::parse2::<KeyspaceDecl>(input).and_then(|decl| generate(&decl)) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

fn generate(decl: &KeyspaceDecl) -> syn::Result<TokenStream> {
    let lit = &decl.template;
    let span = lit.span();
    let parsed = template::parse(lit)?;
    let krate = match &decl.krate {
        Some(path) => quote!(#path),
        None => quote!(::cache_runtime),
    };
    let rt = quote!(#krate::__private);
    let key_var = Ident::new("__cache_key", Span::mixed_site());
    let mut params: Vec<Param> = Vec::new();
    let mut steps = Vec::new();
    for piece in &parsed.pieces {
        match piece {
            Piece::Text(text) => steps.push(quote!(#key_var.text(#text);)),
            Piece::Arg(placeholder) => {
                if !placeholder.fields.is_empty() || placeholder.root == "self" {
                    return Err(syn::Error::new(
                        span,
                        format!(
                            "`{{{}}}`: a keyspace placeholder is a parameter name of its accessors, without fields: write e.g. `{{{}}}`",
                            placeholder.display(),
                            if placeholder.root == "self" { "id" } else { &placeholder.root },
                        ),
                    ));
                }
                let ident = template::ident(&placeholder.root, span);
                let position = match params.iter().position(|p| p.ident == ident) {
                    Some(position) => position,
                    None => {
                        params.push(Param {
                            ident: ident.clone(),
                            text: false,
                            plain: false,
                        });
                        params.len() - 1
                    }
                };
                let param = &mut params[position];
                match placeholder.normaliser {
                    Some(normaliser) => {
                        param.text = true;
                        let function = Ident::new(normaliser.function(), span);
                        steps.push(quote_spanned!(span=>
                            #key_var.arg(&#rt::normalise::#function(#ident));
                        ));
                    }
                    None => {
                        param.plain = true;
                        steps.push(quote_spanned!(span=> #key_var.arg(#ident);));
                    }
                }
            }
        }
    }
    let (attrs, vis, name, ty) = (&decl.attrs, &decl.vis, &decl.name, &decl.ty);
    let holder = format_ident!("__cache_keyspace_{}", name);
    let ttl = match &decl.ttl {
        TtlArg::Policy(path) => quote_spanned!(path_span(path)=> #rt::Ttl::Policy(&#path)),
        TtlArg::Millis(millis) => {
            quote!(#rt::Ttl::Fixed(::core::time::Duration::from_millis(#millis)))
        }
    };
    let bounds: Vec<TokenStream> = params
        .iter()
        .map(|param| match (param.plain, param.text) {
            (true, true) => quote!(#rt::KeyArg + ::core::convert::AsRef<str>),
            (false, true) => quote!(::core::convert::AsRef<str>),
            _ => quote!(#rt::KeyArg),
        })
        .collect();
    let idents: Vec<&Ident> = params.iter().map(|param| &param.ident).collect();
    let typed: Vec<TokenStream> = idents
        .iter()
        .zip(&bounds)
        .map(|(ident, bound)| quote_spanned!(span=> #ident: impl #bound))
        .collect();
    let key_params: Vec<TokenStream> = idents
        .iter()
        .zip(&bounds)
        .map(
            |(ident, bound)| quote_spanned!(span=> #ident: &(impl #bound + ?::core::marker::Sized)),
        )
        .collect();
    let key_args: Vec<TokenStream> = idents.iter().map(|ident| quote!(&#ident)).collect();
    let value = Ident::new("__cache_value", Span::mixed_site());
    let change = Ident::new("__cache_change", Span::mixed_site());
    let source = lit.value();
    let doc = format!("The typed keyspace `{source}` of [`{}`].", quote!(#ty));
    Ok(quote! {
        #(#attrs)*
        #vis static #name: #holder = #holder { inner: #rt::Keyspace::new(#ttl) };

        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis struct #holder {
            inner: #rt::Keyspace<#ty>,
        }

        #[allow(dead_code)]
        impl #holder {
            fn __cache_key(#(#key_params),*) -> #rt::KeyspaceKey {
                let mut #key_var = #rt::KeyspaceKey::new();
                #(#steps)*
                #key_var
            }

            /// The stored value, `None` when absent, undecodable, or the store failed.
            pub async fn get(&self, #(#typed),*) -> ::core::option::Option<#ty> {
                self.inner.get(Self::__cache_key(#(#key_args),*)).await
            }

            /// Stores `value` with the keyspace's TTL; `false` when the store failed.
            pub async fn set(&self, #(#typed,)* #value: &#ty) -> bool {
                self.inner.set(Self::__cache_key(#(#key_args),*), #value).await
            }

            /// Deletes the entry; whether it existed (`false` too when the store failed).
            pub async fn delete(&self, #(#typed),*) -> bool {
                self.inner.delete(Self::__cache_key(#(#key_args),*)).await
            }

            /// Whether the entry exists (`false` when the store failed).
            pub async fn exists(&self, #(#typed),*) -> bool {
                self.inner.exists(Self::__cache_key(#(#key_args),*)).await
            }

            /// How long the entry has left; `None` when absent or the store failed.
            pub async fn ttl(&self, #(#typed),*) -> ::core::option::Option<::core::time::Duration> {
                self.inner.ttl(Self::__cache_key(#(#key_args),*)).await
            }

            /// Gives the entry the keyspace's whole TTL again without rewriting it (`PEXPIRE`);
            /// whether it exists.
            pub async fn touch(&self, #(#typed),*) -> bool {
                self.inner.touch(Self::__cache_key(#(#key_args),*)).await
            }

            /// Read-modify-write that never loses a concurrent update (compare-and-set,
            /// retried): `change` gets the current value (`None`: absent) and returns the new
            /// one, or `None` to write nothing. An existing entry keeps its TTL.
            pub async fn update(
                &self,
                #(#typed,)*
                #change: impl ::core::ops::FnMut(::core::option::Option<#ty>) -> ::core::option::Option<#ty>,
            ) -> #krate::Update<#ty> {
                self.inner.update(Self::__cache_key(#(#key_args),*), #change).await
            }

            /// The full key in the cache and tenant in use here; `None` without a cache.
            pub fn key(&self, #(#typed),*) -> ::core::option::Option<::std::string::String> {
                self.inner.key(Self::__cache_key(#(#key_args),*))
            }
        }
    })
}

fn path_span(path: &Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |segment| segment.ident.span())
}
