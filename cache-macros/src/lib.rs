//! Procedural macros behind [`cache-runtime`](https://docs.rs/cache-runtime).
//!
//! Do not depend on this crate directly: `cache-runtime` re-exports everything here and the
//! expansions name runtime items through `::cache_runtime::__private`.
//!
//! The flow of `#[cached]`: [`args`] parses the attribute, [`template`] parses the key template,
//! [`signature`] reads and checks the function, [`expand`] generates the wrapper. On any error
//! the function is emitted unchanged next to the spanned error, so IDEs keep working.

use proc_macro::TokenStream;

mod args;
mod duration;
mod expand;
mod policy;
mod signature;
mod template;

/// Caches the result of an `async fn`: get-or-set around its body.
///
/// See the `cache-runtime` crate documentation for the options and the guarantees.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::cached(args.into(), item.into()).into()
}

/// Derives `cache_runtime::TtlPolicy` for a fieldless enum: one `#[ttl("…")]` per variant.
#[proc_macro_derive(TtlPolicy, attributes(ttl))]
pub fn derive_ttl_policy(item: TokenStream) -> TokenStream {
    policy::derive(item.into()).into()
}
