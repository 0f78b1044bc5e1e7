//! The value codec: how a function's result becomes the bytes of an entry, and back.
//!
//! JSON is the default, written exactly as `serde_json::to_vec` writes it, so that
//! `redis-cli GET` and clients in other languages read what we store (in Redis, inside the
//! envelope that carries the entry's generation stamp: `store::redis::generation`). MessagePack (feature
//! `msgpack`) and LZ4 compression above a size (feature `compress`) are opt-in, per attribute
//! (`codec = "msgpack"`, `compress_above = "4kb"`) or for the whole process (`CACHE_CODEC`,
//! `CACHE_COMPRESS_ABOVE`).
//!
//! # Framing
//!
//! | bytes | what they are |
//! |---|---|
//! | anything that does not start with `0xC1` | JSON, unframed |
//! | `C1 'M'`, then the body | MessagePack (`rmp-serde`, structs as maps with their field names) |
//! | `C1 'Z'`, codec byte, length (u32, little-endian), LZ4 block | compressed: the block (`lz4_flex` block format) decompresses to exactly `length` bytes of the codec's body: JSON text for `'J'`, the MessagePack body (without `C1 'M'`) for `'M'` |
//!
//! `0xC1` can start no JSON text, is the one byte MessagePack never uses, and is not UTF-8, so
//! a frame is never mistaken for JSON nor JSON for a frame; the codec of any entry is known from
//! its first three bytes. A compressed frame is written only when it is smaller than the plain
//! encoding, so incompressible values are stored as they are.
//!
//! # Reading
//!
//! The reader knows its site's codec. An entry in another codec (JSON read by a MessagePack site
//! or the reverse), an unknown frame, a block that does not decompress to its stated length, or
//! a length above the maximum value size (a decompression bomb) is a [`DecodeError::Mismatch`]:
//! a miss, counted as `codec_mismatch`, never a panic. Bytes in the right codec that are not the
//! function's type are a [`DecodeError::Value`], counted as `undecodable`. Compression is a
//! choice of the writer: a compressed entry in the reader's codec is read whatever the reader's
//! own threshold, as long as the `compress` feature is on.
//!
//! The size bound holds at both ends: a value whose plain encoding is larger than the maximum
//! value size is never compressed (the write then refuses it as oversized), so every stored
//! frame decompresses within the bound.

use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[cfg(test)]
mod tests;

/// The first byte of every encoding that is not JSON.
const MARK: u8 = 0xC1;
/// `C1 'M'`: MessagePack.
const MESSAGE_PACK: u8 = b'M';
/// `C1 'Z'`: compressed.
const COMPRESSED: u8 = b'Z';
/// The codec byte of compressed JSON.
const JSON: u8 = b'J';
/// `C1 'Z'`, the codec byte and the length.
#[cfg(feature = "compress")]
const COMPRESSED_HEADER: usize = 7;
/// MessagePack nesting deeper than this is refused, as `serde_json` refuses JSON nested deeper
/// than 128: decoding recurses, and entries come from outside the process.
#[cfg(feature = "msgpack")]
const MAX_DEPTH: usize = 128;

/// How values are written to the cache: per attribute (`codec = "msgpack"`), else the process's
/// (`CACHE_CODEC`, [`CacheBuilder::codec`](crate::CacheBuilder::codec)).
///
/// With the features `msgpack` and `compress`:
///
#[cfg_attr(all(feature = "msgpack", feature = "compress"), doc = "```")]
#[cfg_attr(not(all(feature = "msgpack", feature = "compress")), doc = "```ignore")]
/// use cache_runtime::{cached, CacheBuilder, Codec, Policy};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Serialize, Deserialize)]
/// struct Report { lines: Vec<String> }
///
/// // MessagePack, LZ4-compressed above 4 KiB.
/// #[cached(key = "report:{id}", ttl = Policy::NewsData, codec = "msgpack", compress_above = "4kb")]
/// async fn report(id: u32) -> Report {
///     Report { lines: vec![format!("report {id}"); 1000] }
/// }
///
/// // Plain JSON whatever the process's settings, for readers in other languages.
/// #[cached(key = "summary:{id}", ttl = "1h", codec = "json", compress_above = false)]
/// async fn summary(id: u32) -> String {
///     format!("summary {id}")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_runtime::ConfigError> {
/// // Every other function: MessagePack, compressed above 16 KiB.
/// let cache = CacheBuilder::new()
///     .codec(Codec::MessagePack)
///     .compress_above(16 << 10)
///     .build()
///     .await?;
/// cache.scope(async {
///     report(7).await;
///     assert_eq!(report(7).await.lines.len(), 1000);
///     assert_eq!(summary(7).await, "summary 7");
/// }).await;
/// assert_eq!(cache.stats().policies["news_data"].hits, 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// Plain JSON (`serde_json`), readable by `redis-cli` and any other client: the default.
    #[default]
    Json,
    /// MessagePack (`rmp-serde`, structs as maps with their field names): smaller and faster to
    /// decode, unreadable to `redis-cli`. Feature `msgpack`.
    #[cfg(feature = "msgpack")]
    MessagePack,
}

impl Codec {
    /// The codec's name in `CACHE_CODEC` and `codec = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => "msgpack",
        }
    }

    /// The codec of a `CACHE_CODEC` value: `Err` with the reason when there is none.
    pub(crate) fn named(name: &str) -> Result<Codec, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Codec::Json),
            #[cfg(feature = "msgpack")]
            "msgpack" | "messagepack" => Ok(Codec::MessagePack),
            #[cfg(not(feature = "msgpack"))]
            "msgpack" | "messagepack" => Err(format!(
                "`{name}` needs the `msgpack` feature of cache-runtime, which is off in this build"
            )),
            _ => Err(format!(
                "`{name}` is not a codec: use `json` (the default) or `msgpack`"
            )),
        }
    }

    /// The codec byte of a compressed frame.
    #[cfg(feature = "compress")]
    fn tag(self) -> u8 {
        match self {
            Codec::Json => JSON,
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => MESSAGE_PACK,
        }
    }

    fn tagged(tag: u8) -> Option<Codec> {
        match tag {
            JSON => Some(Codec::Json),
            #[cfg(feature = "msgpack")]
            MESSAGE_PACK => Some(Codec::MessagePack),
            _ => None,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a site's compression threshold comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    /// The process's (`CACHE_COMPRESS_ABOVE`).
    Default,
    /// `compress_above = false`: never.
    Off,
    /// `compress_above = "4kb"`: encodings longer than this many bytes.
    Above(usize),
}

/// How one site encodes and decodes: its codec and compression threshold (its own, else the
/// process's), and the maximum value size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Format {
    pub(crate) codec: Codec,
    /// Compress encodings longer than this many bytes.
    pub(crate) compress_above: Option<usize>,
    /// The largest plain encoding that is compressed, and the largest that a frame may
    /// decompress to.
    pub(crate) max_bytes: usize,
}

/// A value that the codec cannot write (a map with non-string keys in JSON, a failing
/// `Serialize` impl).
#[derive(Debug)]
pub(crate) enum EncodeError {
    Json(serde_json::Error),
    #[cfg(feature = "msgpack")]
    MessagePack(rmp_serde::encode::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Json(error) => write!(f, "JSON: {error}"),
            #[cfg(feature = "msgpack")]
            EncodeError::MessagePack(error) => write!(f, "MessagePack: {error}"),
        }
    }
}

/// Why stored bytes are not a value: both are misses.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The bytes are not in the reader's codec, or not a frame it can open.
    Mismatch(Mismatch),
    /// The bytes are in the reader's codec but are not the function's type.
    Value(String),
}

/// What kind of mismatch, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// An entry of another codec (or of a codec whose feature is off).
    OtherCodec(Option<Codec>),
    /// `0xC1` followed by a byte that starts no known frame.
    UnknownFrame,
    /// A compressed frame, but the `compress` feature is off.
    #[cfg(not(feature = "compress"))]
    Compressed,
    /// A compressed frame whose stated length is above the maximum value size.
    #[cfg_attr(not(feature = "compress"), allow(dead_code))]
    TooLarge,
    /// A compressed frame that does not decompress to its stated length.
    #[cfg_attr(not(feature = "compress"), allow(dead_code))]
    Corrupt,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Mismatch(Mismatch::OtherCodec(Some(codec))) => {
                write!(f, "the entry is in the {codec} codec")
            }
            DecodeError::Mismatch(Mismatch::OtherCodec(None)) => {
                f.write_str("the entry is in a codec this build does not have")
            }
            DecodeError::Mismatch(Mismatch::UnknownFrame) => f.write_str("unknown frame"),
            #[cfg(not(feature = "compress"))]
            DecodeError::Mismatch(Mismatch::Compressed) => {
                f.write_str("the entry is compressed and the `compress` feature is off")
            }
            DecodeError::Mismatch(Mismatch::TooLarge) => {
                f.write_str("the entry decompresses to more than the maximum value size")
            }
            DecodeError::Mismatch(Mismatch::Corrupt) => {
                f.write_str("the entry does not decompress")
            }
            DecodeError::Value(error) => f.write_str(error),
        }
    }
}

/// The parts of stored bytes, read from their first bytes only.
enum Frame<'a> {
    /// Plain bytes in a codec: its body.
    Plain(Codec, &'a [u8]),
    /// A compressed body of a codec: its stated length and the LZ4 block.
    #[cfg_attr(not(feature = "compress"), allow(dead_code))]
    Compressed(Codec, usize, &'a [u8]),
    Unknown(Mismatch),
}

impl<'a> Frame<'a> {
    fn of(bytes: &'a [u8]) -> Frame<'a> {
        match bytes {
            [MARK, MESSAGE_PACK, body @ ..] => match Codec::tagged(MESSAGE_PACK) {
                Some(codec) => Frame::Plain(codec, body),
                None => Frame::Unknown(Mismatch::OtherCodec(None)),
            },
            [MARK, COMPRESSED, tag, a, b, c, d, block @ ..] => match Codec::tagged(*tag) {
                Some(codec) => {
                    let length = u32::from_le_bytes([*a, *b, *c, *d]);
                    let length = usize::try_from(length).unwrap_or(usize::MAX);
                    Frame::Compressed(codec, length, block)
                }
                None if *tag == MESSAGE_PACK => Frame::Unknown(Mismatch::OtherCodec(None)),
                None => Frame::Unknown(Mismatch::UnknownFrame),
            },
            [MARK, ..] => Frame::Unknown(Mismatch::UnknownFrame),
            _ => Frame::Plain(Codec::Json, bytes),
        }
    }

    fn codec(&self) -> Option<Codec> {
        match self {
            Frame::Plain(codec, _) | Frame::Compressed(codec, _, _) => Some(*codec),
            Frame::Unknown(_) => None,
        }
    }
}

impl Format {
    /// This format with a site's own choices, where it makes them.
    pub(crate) fn with(self, codec: Option<Codec>, compression: Compression) -> Self {
        Self {
            codec: codec.unwrap_or(self.codec),
            compress_above: match compression {
                Compression::Default => self.compress_above,
                Compression::Off => None,
                Compression::Above(bytes) => Some(bytes),
            },
            max_bytes: self.max_bytes,
        }
    }

    /// Whether `bytes` are in this format's codec, from their first bytes only: whether an
    /// in-process store's decoded copy of them may be served to this site.
    pub(crate) fn reads(&self, bytes: &[u8]) -> bool {
        Frame::of(bytes).codec() == Some(self.codec)
    }

    pub(crate) fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Bytes, EncodeError> {
        let encoded = match self.codec {
            Codec::Json => serde_json::to_vec(value).map_err(EncodeError::Json)?,
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => {
                let mut encoded = vec![MARK, MESSAGE_PACK];
                rmp_serde::encode::write_named(&mut encoded, value)
                    .map_err(EncodeError::MessagePack)?;
                encoded
            }
        };
        Ok(self.compress(encoded))
    }

    /// `encoded` as a compressed frame, if this format compresses it and that is smaller.
    #[cfg(feature = "compress")]
    fn compress(&self, encoded: Vec<u8>) -> Bytes {
        let Some(threshold) = self.compress_above else {
            return Bytes::from(encoded);
        };
        if encoded.len() <= threshold || encoded.len() > self.max_bytes {
            return Bytes::from(encoded);
        }
        let body = match self.codec {
            Codec::Json => &encoded[..],
            #[cfg(feature = "msgpack")]
            Codec::MessagePack => &encoded[2..],
        };
        let Ok(length) = u32::try_from(body.len()) else {
            return Bytes::from(encoded);
        };
        let bound = lz4_flex::block::get_maximum_output_size(body.len());
        let mut frame = vec![0; COMPRESSED_HEADER + bound];
        frame[..3].copy_from_slice(&[MARK, COMPRESSED, self.codec.tag()]);
        frame[3..COMPRESSED_HEADER].copy_from_slice(&length.to_le_bytes());
        match lz4_flex::block::compress_into(body, &mut frame[COMPRESSED_HEADER..]) {
            Ok(written) if COMPRESSED_HEADER + written < encoded.len() => {
                frame.truncate(COMPRESSED_HEADER + written);
                Bytes::from(frame)
            }
            _ => Bytes::from(encoded),
        }
    }

    #[cfg(not(feature = "compress"))]
    fn compress(&self, encoded: Vec<u8>) -> Bytes {
        Bytes::from(encoded)
    }

    pub(crate) fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        match Frame::of(bytes) {
            Frame::Plain(codec, body) if codec == self.codec => decode_body(codec, body),
            Frame::Compressed(codec, length, block) if codec == self.codec => {
                let body = self.decompress(length, block)?;
                decode_body(codec, &body)
            }
            Frame::Unknown(mismatch) => Err(DecodeError::Mismatch(mismatch)),
            other => Err(DecodeError::Mismatch(Mismatch::OtherCodec(other.codec()))),
        }
    }

    #[cfg(feature = "compress")]
    fn decompress(&self, length: usize, block: &[u8]) -> Result<Vec<u8>, DecodeError> {
        // Checked before anything is allocated: the stated length is the allocation.
        if length > self.max_bytes {
            return Err(DecodeError::Mismatch(Mismatch::TooLarge));
        }
        let mut body = vec![0; length];
        match lz4_flex::block::decompress_into(block, &mut body) {
            Ok(written) if written == length => Ok(body),
            _ => Err(DecodeError::Mismatch(Mismatch::Corrupt)),
        }
    }

    #[cfg(not(feature = "compress"))]
    fn decompress(&self, _length: usize, _block: &[u8]) -> Result<Vec<u8>, DecodeError> {
        Err(DecodeError::Mismatch(Mismatch::Compressed))
    }
}

fn decode_body<T: DeserializeOwned>(codec: Codec, body: &[u8]) -> Result<T, DecodeError> {
    match codec {
        Codec::Json => {
            serde_json::from_slice(body).map_err(|error| DecodeError::Value(error.to_string()))
        }
        #[cfg(feature = "msgpack")]
        Codec::MessagePack => {
            let mut deserializer = rmp_serde::Deserializer::new(body);
            deserializer.set_max_depth(MAX_DEPTH);
            let value = T::deserialize(&mut deserializer)
                .map_err(|error| DecodeError::Value(error.to_string()))?;
            // As `serde_json` does: bytes after the value mean these are not the bytes written.
            if !deserializer.get_ref().is_empty() {
                return Err(DecodeError::Value(
                    "bytes after the MessagePack value".to_owned(),
                ));
            }
            Ok(value)
        }
    }
}
