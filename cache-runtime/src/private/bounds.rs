//! The bounds the expansion checks at the attribute, with messages that say what to do.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::probe::Probe;
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
/// reports a type that cannot once, where the bounds of `Call::run` would report it several
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

/// A return type whose `#[cached]` future can be `Send`: the cache holds the result across
/// `.await` (to store it, and to hand it to concurrent callers of the same key).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is returned by a `#[cached]` function, so it must be `Send` and `Sync`",
    label = "not `Send` and `Sync`",
    note = "the cache holds the result across `.await` (to store it and hand it to concurrent callers of the same key), so the function's future is `Send`, as `tokio::spawn` and axum handlers need, only if the result is `Send + Sync`",
    note = "use thread-safe parts: `Box<dyn Error + Send + Sync>` for `Box<dyn Error>`, `Mutex` or `RwLock` for `RefCell` and `Cell`, `Arc` for `Rc`; bound a type parameter with `Send + Sync + 'static`"
)]
pub trait SharedResult: Send + Sync {}

impl<R: Send + Sync + ?Sized> SharedResult for R {}

/// A compile-time check spanned on the return type: the result can cross threads.
pub fn result_must_be_send_and_sync<R: SharedResult>(probe: Probe<R>) -> Probe<R> {
    probe
}

/// A return type that can fail, as `stale_if_error` needs.
#[diagnostic::on_unimplemented(
    message = "`stale_if_error` needs a function that returns `Result`, and this one returns `{Self}`",
    label = "not a `Result`",
    note = "`stale_if_error` serves the last value when the function returns `Err`; a function that cannot return `Err` would pay for a stale copy on every write and never serve it: remove `stale_if_error`, or return `Result<T, E>`"
)]
pub trait FallibleResult {}

impl<T, E> FallibleResult for Result<T, E> {}

/// A compile-time check spanned on the return type, for `stale_if_error`.
pub fn stale_if_error_needs_a_result<R: FallibleResult>(probe: Probe<R>) -> Probe<R> {
    probe
}
