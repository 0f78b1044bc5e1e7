//! Procedural macros behind [`cache-runtime`](https://docs.rs/cache-runtime).
//!
//! Do not depend on this crate directly: `cache-runtime` re-exports everything here and the
//! expansions name runtime items through `::cache_runtime::__private`.
//!
//! The flow of `#[cached]` (and `#[cache_put]`, `#[cache_evict]`): `args` parses the attribute,
//! `template` parses key and tag templates, `signature` reads the function, `check` checks
//! the one against the other, `expand` generates the wrapper. On any error `fallback` emits
//! the function unchanged next to the spanned errors, so IDEs keep working.

use proc_macro::TokenStream;

mod args;
mod batch;
mod check;
mod diagnostic;
mod duration;
mod expand;
mod fallback;
mod keyspace;
#[cfg(test)]
mod no_panic;
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
///   every argument and, for a generic function or a function of a generic impl, the
///   instantiated path (every type and const argument).
/// - The body keeps its meaning: `?` converts errors with `From` and `return` returns from the
///   function, as without the attribute.
/// - Next to a free or associated function it emits the companion `<name>_cache`; on an
///   associated function of a trait impl write `companion = false` (the impl can hold only the
///   trait's items). `crate = "path"` names the runtime where it is renamed or re-exported.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(args.into(), item.into(), args::Kind::Cached).into()
}

/// Always runs the function and stores its cacheable result as an entry of the `#[cached]`
/// function named by `function = …`: write-through.
///
/// Takes `function`, `key` (checked at compile time to be that function's template), `tenant` and
/// `tags`. The TTL, version, `require_tenant` and `stale_if_error` are the named function's.
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(args.into(), item.into(), args::Kind::Put).into()
}

/// Runs the function, then, unless it returned `Err`, deletes the entries it names: `key = "…"`
/// (one entry, same template syntax as `#[cached]`), `tags = ["…"]`, `function = cached_fn` (all
/// entries of a `#[cached]` function, every tenant) and/or `tenant_entries` (all of the
/// tenant's entries). With both `function` and `key`, the one entry of that function: the key
/// template is checked to be the function's and its version is used. `version` (without
/// `function`) and `tenant` work as in `#[cached]`.
#[proc_macro_attribute]
pub fn cache_evict(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(args.into(), item.into(), args::Kind::Evict).into()
}

/// Derives `cache_runtime::TtlPolicy` for a fieldless enum: one `#[ttl("…")]` per variant.
/// `#[ttl_policy(crate = "path")]` on the enum names the runtime where it is renamed or
/// re-exported.
#[proc_macro_derive(TtlPolicy, attributes(ttl, ttl_policy))]
pub fn derive_ttl_policy(item: TokenStream) -> TokenStream {
    policy::derive(item.into()).into()
}

/// Declares a typed keyspace: `keyspace!(pub SESSIONS: Session = "session:{user_id}", ttl =
/// Policy::UserSession);` gives `SESSIONS.get(user_id)`, `set`, `delete`, `exists`, `ttl`,
/// `touch`, `update` and `key`, whose parameters are the template's placeholders.
///
/// See `cache_runtime::keyspace!` for the behaviour.
#[proc_macro]
pub fn keyspace(input: TokenStream) -> TokenStream {
    keyspace::expand(input.into()).into()
}
