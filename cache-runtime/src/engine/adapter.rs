//! How the engine handles a function's return type `R` without knowing it: which part `T` is
//! cached, how to rebuild `R`, whether `R` is a failure, and how in-process stores keep `T`.
//! The expansion picks these at compile time (see `__private::shape`).

use std::any::Any;
use std::sync::Arc;

/// How to find the cacheable value `T` in a result `R`, and how to rebuild `R` from it.
pub struct Adapter<R, T> {
    pub(crate) get: fn(&R) -> Option<&T>,
    pub(crate) wrap: fn(T) -> R,
    /// Whether the result is a failure that `stale_if_error` may answer (an `Err`).
    pub(crate) failed: fn(&R) -> bool,
    /// For `T: Clone`: how in-process stores keep the decoded value, so a hit is a clone.
    pub(crate) typing: Option<Typing<T>>,
}

impl<T> Adapter<T, T> {
    /// A value cached as it is, decoded from its bytes on every hit (batch entries).
    pub(crate) fn plain() -> Self {
        Adapter {
            get: |value| Some(value),
            wrap: |value| value,
            failed: |_| false,
            typing: None,
        }
    }
}

impl<R, T> Clone for Adapter<R, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R, T> Copy for Adapter<R, T> {}

/// Keeping a decoded `T` in an in-process store.
pub struct Typing<T> {
    pub(crate) to_any: fn(&T) -> Arc<dyn Any + Send + Sync>,
    pub(crate) from_any: fn(&(dyn Any + Send + Sync)) -> Option<T>,
    /// Decodes stored bytes, in the reading site's format, straight into the kept form.
    pub(crate) decode_any: crate::store::DecodeTyped,
}

impl<T> Clone for Typing<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Typing<T> {}

/// How an uncached result (an `Err`, a `None`) reaches single-flight followers.
pub struct Share<R> {
    pub(crate) to_any: fn(&R) -> Arc<dyn Any + Send + Sync>,
    pub(crate) from_any: fn(&(dyn Any + Send + Sync)) -> Option<R>,
}
