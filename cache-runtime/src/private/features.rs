//! Codec options of the attribute that need a cargo feature: the expansion of
//! `codec = "msgpack"` is `codec::<MessagePack>()`, which compiles only with the feature, and
//! otherwise fails with a message naming the feature, spanned at the option's value.

use crate::codec::Codec;

/// A codec that `codec = "…"` names. (MessagePack is the one codec behind a feature, so the
/// message names it; another would need a trait of its own.)
#[diagnostic::on_unimplemented(
    message = "`codec = \"msgpack\"` needs the `msgpack` feature of cache-runtime",
    label = "MessagePack is behind a cargo feature that is off",
    note = "turn it on in Cargo.toml: `cache-runtime = {{ version = \"…\", features = [\"msgpack\"] }}`"
)]
pub trait EnabledCodec {
    /// The codec.
    const CODEC: Codec;
}

/// `codec = "json"`.
#[allow(non_camel_case_types)]
pub struct json;

impl EnabledCodec for json {
    const CODEC: Codec = Codec::Json;
}

/// `codec = "msgpack"`.
#[allow(non_camel_case_types)]
pub struct msgpack;

#[cfg(feature = "msgpack")]
impl EnabledCodec for msgpack {
    const CODEC: Codec = Codec::MessagePack;
}

/// The codec `C` names, if its feature is on.
pub const fn codec<C: EnabledCodec>() -> Codec {
    C::CODEC
}

/// Compression, which `compress_above = …` asks for.
#[diagnostic::on_unimplemented(
    message = "`compress_above` needs the `compress` feature of cache-runtime",
    label = "compression is behind a cargo feature that is off",
    note = "turn it on in Cargo.toml: `cache-runtime = {{ version = \"…\", features = [\"compress\"] }}`"
)]
pub trait EnabledCompression {}

/// `compress_above = …`.
pub struct Lz4;

#[cfg(feature = "compress")]
impl EnabledCompression for Lz4 {}

/// `bytes`, if compression's feature is on.
pub const fn compress_above<C: EnabledCompression>(bytes: usize) -> usize {
    bytes
}
