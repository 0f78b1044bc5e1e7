//! The bounds the expansion checks at the attribute, with messages that say what to do.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::engine::Adapter;

/// A value that can be part of a cache key: anything `Serialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key",
    label = "this argument is part of the key",
    note = "key arguments must implement `serde::Serialize`; name only the arguments that identify the result in `key = \"…\"`"
)]
pub trait KeyArg: Serialize {}

impl<T: Serialize + ?Sized> KeyArg for T {}

/// A value the cache can store: the return type, or its `Ok`/`Some` part.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in the cache",
    label = "the cache stores values of this type",
    note = "a cached value must implement `serde::Serialize` and `serde::Deserialize`: derive both on it; `Result<T, E>` and `Option<T>` need them for `T` only"
)]
pub trait CacheValue: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// A compile-time check spanned on the return type: the cached part of it can be stored. It
/// reports a type that cannot once, where the bounds of [`Call::run`] would report it several
/// times, pointing at generated code.
pub fn cache_value<R, T: CacheValue>(adapter: Adapter<R, T>) -> Adapter<R, T> {
    adapter
}

/// An argument that can be the tenant (`tenant = arg`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tenant id",
    label = "`tenant = …` names this argument",
    note = "the tenant argument must implement `AsRef<str>`, like `&str`, `String` or `Arc<str>`"
)]
pub trait TenantId: AsRef<str> {}

impl<T: AsRef<str> + ?Sized> TenantId for T {}

/// A compile-time check spanned on `tenant = arg`, for a message that says what a tenant is.
pub fn tenant_id<T: TenantId + ?Sized>(tenant: &T) -> &T {
    tenant
}
