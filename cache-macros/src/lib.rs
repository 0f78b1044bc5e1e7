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
/// See the `cache-runtime` crate documentation for the options and the guarantees. In short:
///
/// - `Result<T, E>` caches only `Ok(T)` and `Option<T>` only `Some(T)`; any other type is cached
///   as it is, `()` included: a function returning `()` (or `Ok(())`) runs at most once per key
///   and TTL. `T` must implement `Serialize` and `Deserialize`; the arguments in the key,
///   `Serialize`.
/// - With `key = "…"` the template is the whole key, so on a generic function values that render
///   alike share an entry whatever their type. Without `key`, the key is the function's path,
///   every argument and every type and const parameter.
/// - The body keeps its meaning: `?` converts errors with `From` and `return` returns from the
///   function, as without the attribute.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::cached(args.into(), item.into()).into()
}

/// Derives `cache_runtime::TtlPolicy` for a fieldless enum: one `#[ttl("…")]` per variant.
#[proc_macro_derive(TtlPolicy, attributes(ttl))]
pub fn derive_ttl_policy(item: TokenStream) -> TokenStream {
    policy::derive(item.into()).into()
}
