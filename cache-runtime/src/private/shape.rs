//! Compile-time dispatch on the return type: which part of it is cached, and whether an
//! uncached result can be handed to single-flight followers. Resolved by auto-ref: the impls
//! for `&Probe<…>` win over the fallbacks for `Probe<…>`.

use std::sync::Arc;

pub use super::probe::Probe;
use crate::codec::Format;
pub use crate::engine::{Adapter, Share, Typing};

fn typing<T>() -> Option<Typing<T>>
where
    T: Clone + Send + Sync + serde::de::DeserializeOwned + 'static,
{
    Some(Typing {
        to_any: |value| Arc::new(value.clone()),
        from_any: |any| any.downcast_ref::<T>().cloned(),
        decode_any: |bytes, format| {
            let value: T = format.decode(bytes).ok()?;
            Some(Arc::new(value))
        },
    })
}

/// `Result<T, E>` with `T: Clone`: only `Ok(T)` is cached, and kept decoded in-process.
pub trait AsResultTyped<T, E> {
    /// The adapter.
    fn adapter(&self) -> Adapter<Result<T, E>, T>;
}

impl<T, E> AsResultTyped<T, E> for &&Probe<Result<T, E>>
where
    T: Clone + Send + Sync + serde::de::DeserializeOwned + 'static,
{
    fn adapter(&self) -> Adapter<Result<T, E>, T> {
        Adapter {
            typing: typing(),
            ..<&Probe<Result<T, E>> as AsResult<T, E>>::adapter(&&Probe::new())
        }
    }
}

/// `Option<T>` with `T: Clone`: only `Some(T)` is cached, and kept decoded in-process.
pub trait AsOptionTyped<T> {
    /// The adapter.
    fn adapter(&self) -> Adapter<Option<T>, T>;
}

impl<T> AsOptionTyped<T> for &&Probe<Option<T>>
where
    T: Clone + Send + Sync + serde::de::DeserializeOwned + 'static,
{
    fn adapter(&self) -> Adapter<Option<T>, T> {
        Adapter {
            typing: typing(),
            ..<&Probe<Option<T>> as AsOption<T>>::adapter(&&Probe::new())
        }
    }
}

/// Any other `Clone` type: cached as it is, and kept decoded in-process.
pub trait AsPlainTyped<R> {
    /// The adapter.
    fn adapter(&self) -> Adapter<R, R>;
}

impl<R> AsPlainTyped<R> for &Probe<R>
where
    R: Clone + Send + Sync + serde::de::DeserializeOwned + 'static,
{
    fn adapter(&self) -> Adapter<R, R> {
        Adapter {
            typing: typing(),
            ..<Probe<R> as AsPlain<R>>::adapter(&Probe::new())
        }
    }
}

/// `Result<T, E>`: only `Ok(T)` is cached.
pub trait AsResult<T, E> {
    /// The adapter.
    fn adapter(&self) -> Adapter<Result<T, E>, T>;
}

impl<T, E> AsResult<T, E> for &Probe<Result<T, E>> {
    fn adapter(&self) -> Adapter<Result<T, E>, T> {
        Adapter {
            get: |result| result.as_ref().ok(),
            wrap: Ok,
            failed: Result::is_err,
            typing: None,
        }
    }
}

/// `Option<T>`: only `Some(T)` is cached.
pub trait AsOption<T> {
    /// The adapter.
    fn adapter(&self) -> Adapter<Option<T>, T>;
}

impl<T> AsOption<T> for &Probe<Option<T>> {
    fn adapter(&self) -> Adapter<Option<T>, T> {
        Adapter {
            get: Option::as_ref,
            wrap: Some,
            failed: |_| false,
            typing: None,
        }
    }
}

/// Any other type: cached as it is.
pub trait AsPlain<R> {
    /// The adapter.
    fn adapter(&self) -> Adapter<R, R>;
}

impl<R> AsPlain<R> for Probe<R> {
    fn adapter(&self) -> Adapter<R, R> {
        Adapter {
            get: |value| Some(value),
            wrap: |value| value,
            failed: |_| false,
            typing: None,
        }
    }
}

/// `R: Clone`: followers get a clone of the leader's result.
pub trait Cloned<R> {
    /// The sharing, if any.
    fn share(&self) -> Option<Share<R>>;
}

impl<R: Clone + Send + Sync + 'static> Cloned<R> for &Probe<R> {
    fn share(&self) -> Option<Share<R>> {
        Some(Share {
            to_any: |result| Arc::new(result.clone()),
            from_any: |any| any.downcast_ref::<R>().cloned(),
        })
    }
}

/// Otherwise each follower runs the function itself.
pub trait NotCloned<R> {
    /// The sharing, if any.
    fn share(&self) -> Option<Share<R>>;
}

impl<R> NotCloned<R> for Probe<R> {
    fn share(&self) -> Option<Share<R>> {
        None
    }
}

/// Encoding and decoding of the cached part of `R` in a site's format, for `CacheEntry`.
pub struct Codec<R> {
    pub(crate) decode: fn(&[u8], Format) -> Option<R>,
    pub(crate) encode: fn(&R, Format) -> Option<bytes::Bytes>,
}

fn encode<T: super::bounds::CacheValue>(value: Option<&T>, format: Format) -> Option<bytes::Bytes> {
    value.and_then(|value| format.encode(value).ok())
}

fn decode<T: super::bounds::CacheValue>(bytes: &[u8], format: Format) -> Option<T> {
    format.decode::<T>(bytes).ok()
}

/// `Result<T, E>` with a storable `T`.
pub trait CodecResult<R> {
    /// The codec, if the cached part can be stored.
    fn codec(&self) -> Option<Codec<R>>;
}

impl<T: super::bounds::CacheValue, E> CodecResult<Result<T, E>> for &&Probe<Result<T, E>> {
    fn codec(&self) -> Option<Codec<Result<T, E>>> {
        Some(Codec {
            decode: |bytes, format| decode::<T>(bytes, format).map(Ok),
            encode: |result, format| encode(result.as_ref().ok(), format),
        })
    }
}

/// `Option<T>` with a storable `T`.
pub trait CodecOption<R> {
    /// The codec, if the cached part can be stored.
    fn codec(&self) -> Option<Codec<R>>;
}

impl<T: super::bounds::CacheValue> CodecOption<Option<T>> for &&Probe<Option<T>> {
    fn codec(&self) -> Option<Codec<Option<T>>> {
        Some(Codec {
            decode: |bytes, format| decode::<T>(bytes, format).map(Some),
            encode: |option, format| encode(option.as_ref(), format),
        })
    }
}

/// Any other storable type.
pub trait CodecPlain<R> {
    /// The codec, if the cached part can be stored.
    fn codec(&self) -> Option<Codec<R>>;
}

impl<R: super::bounds::CacheValue> CodecPlain<R> for &Probe<R> {
    fn codec(&self) -> Option<Codec<R>> {
        Some(Codec {
            decode: decode::<R>,
            encode: |value, format| encode(Some(value), format),
        })
    }
}

/// A type that cannot be stored: `#[cached]` reports it on the function itself, so its
/// companion stays silent.
pub trait CodecNone<R> {
    /// No codec.
    fn codec(&self) -> Option<Codec<R>>;
}

impl<R> CodecNone<R> for Probe<R> {
    fn codec(&self) -> Option<Codec<R>> {
        None
    }
}
