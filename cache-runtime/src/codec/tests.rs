use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

const MAX: usize = 1 << 20;

fn format(codec: Codec, compress_above: Option<usize>) -> Format {
    Format {
        codec,
        compress_above,
        max_bytes: MAX,
    }
}

fn json() -> Format {
    format(Codec::Json, None)
}

/// Every format this build has: each codec, plain and compressing everything.
fn formats() -> Vec<Format> {
    let codecs = [
        Codec::Json,
        #[cfg(feature = "msgpack")]
        Codec::MessagePack,
    ];
    codecs
        .into_iter()
        .flat_map(|codec| [format(codec, None), format(codec, Some(0))])
        .collect()
}

fn is_mismatch<T: std::fmt::Debug>(decoded: Result<T, DecodeError>) -> bool {
    matches!(decoded, Err(DecodeError::Mismatch(_)))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Event {
    Trade {
        price: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        venue: Option<String>,
    },
    Halt {
        #[serde(rename = "why")]
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Report {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    events: Vec<Event>,
    #[serde(flatten)]
    totals: Totals,
    // Not `Option<Option<_>>`: neither JSON nor MessagePack tells `Some(None)` from `None`.
    nested: Option<Box<Report>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Totals {
    count: u64,
    delta: i64,
}

fn report() -> Report {
    Report {
        events: vec![
            Event::Trade {
                price: -0.0,
                venue: None,
            },
            Event::Trade {
                price: f64::MIN_POSITIVE / 2.0,
                venue: Some("東証 ✓".to_owned()),
            },
            Event::Halt {
                reason: "circuit\u{0}breaker".to_owned(),
            },
        ],
        totals: Totals {
            count: u64::MAX,
            delta: i64::MIN,
        },
        nested: Some(Box::new(Report {
            events: vec![],
            totals: Totals { count: 0, delta: 1 },
            nested: None,
        })),
    }
}

#[test]
fn json_is_written_as_serde_json_writes_it() {
    let value = report();
    let plain = serde_json::to_vec(&value).unwrap();
    assert_eq!(json().encode(&value).unwrap(), plain);
    // Below (or at) the threshold, compression leaves it as it is.
    let at = format(Codec::Json, Some(plain.len()));
    assert_eq!(at.encode(&value).unwrap(), plain);
}

#[test]
fn every_format_round_trips_attributes_of_serde() {
    let value = report();
    for format in formats() {
        let bytes = format.encode(&value).unwrap();
        let back: Report = format.decode(&bytes).unwrap();
        assert_eq!(back, value, "{format:?}");
        assert!(format.reads(&bytes), "{format:?}");
        // `-0.0` keeps its sign, subnormals their bits.
        let Event::Trade { price, .. } = &back.events[0] else {
            unreachable!()
        };
        assert_eq!(price.to_bits(), (-0.0f64).to_bits());
    }
}

#[test]
fn unknown_frames_are_mismatches() {
    for format in formats() {
        for bytes in [
            &[MARK][..],
            &[MARK, b'?', 1, 2],
            &[MARK, COMPRESSED],
            &[MARK, COMPRESSED, JSON, 1, 0],
            &[MARK, COMPRESSED, b'?', 1, 0, 0, 0, 0],
        ] {
            assert!(
                is_mismatch(format.decode::<u32>(bytes)),
                "{format:?} {bytes:?}"
            );
            assert!(!format.reads(bytes));
        }
    }
}

#[cfg(feature = "msgpack")]
mod msgpack {
    use super::*;

    #[test]
    fn message_pack_is_framed_and_keeps_field_names() {
        let bytes = format(Codec::MessagePack, None)
            .encode(&Totals { count: 1, delta: 2 })
            .unwrap();
        assert_eq!(&bytes[..2], &[MARK, MESSAGE_PACK]);
        // A map of two entries (0x82), then the first field's name.
        assert_eq!(bytes[2], 0x82);
        assert_eq!(&bytes[3..9], b"\xa5count");
    }

    #[test]
    fn one_codec_does_not_read_the_other() {
        let packed = format(Codec::MessagePack, None);
        let value = report();
        let json_bytes = json().encode(&value).unwrap();
        let packed_bytes = packed.encode(&value).unwrap();
        assert!(is_mismatch(packed.decode::<Report>(&json_bytes)));
        assert!(is_mismatch(json().decode::<Report>(&packed_bytes)));
        assert!(!packed.reads(&json_bytes));
        assert!(!json().reads(&packed_bytes));
    }

    #[test]
    fn bytes_after_the_value_are_not_the_value() {
        let packed = format(Codec::MessagePack, None);
        let mut bytes = packed.encode(&7u32).unwrap().to_vec();
        bytes.push(0);
        assert!(matches!(
            packed.decode::<u32>(&bytes),
            Err(DecodeError::Value(_))
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        // 100,000 nested one-element arrays.
        let mut bytes = vec![MARK, MESSAGE_PACK];
        bytes.extend(std::iter::repeat_n(0x91, 100_000));
        bytes.push(0);
        let decoded = format(Codec::MessagePack, None).decode::<serde_json::Value>(&bytes);
        assert!(matches!(decoded, Err(DecodeError::Value(_))));
    }

    proptest! {
        /// Every float (NaN payloads, infinities, subnormals, -0.0) keeps its bits, and every
        /// integer and string its value.
        #[test]
        fn message_pack_is_bit_identical(
            bits in proptest::collection::vec(any::<u64>(), 0..40),
            small in proptest::collection::vec(any::<u32>(), 0..8),
            numbers in (any::<u64>(), any::<i64>(), any::<i128>()),
            text in ".*",
            compress in any::<bool>(),
        ) {
            let packed = format(Codec::MessagePack, compress.then_some(0));
            let floats: Vec<f64> = bits.iter().map(|bits| f64::from_bits(*bits)).collect();
            let singles: Vec<f32> = small.iter().map(|bits| f32::from_bits(*bits)).collect();
            let value = (floats, singles, numbers, text.clone());
            let bytes = packed.encode(&value).unwrap();
            let back: (Vec<f64>, Vec<f32>, (u64, i64, i128), String) = packed.decode(&bytes).unwrap();
            let back_bits: Vec<u64> = back.0.iter().map(|f| f.to_bits()).collect();
            let back_small: Vec<u32> = back.1.iter().map(|f| f.to_bits()).collect();
            prop_assert_eq!(back_bits, bits);
            prop_assert_eq!(back_small, small);
            prop_assert_eq!(back.2, numbers);
            prop_assert_eq!(back.3, text);
        }
    }
}

#[cfg(feature = "compress")]
mod compress {
    use super::*;

    fn large() -> Vec<String> {
        (0..500).map(|i| format!("quote-{}", i % 7)).collect()
    }

    #[test]
    fn above_the_threshold_a_smaller_frame_is_written() {
        for format in formats().into_iter().filter(|f| f.compress_above.is_some()) {
            let plain = Format {
                compress_above: None,
                ..format
            }
            .encode(&large())
            .unwrap();
            let bytes = format.encode(&large()).unwrap();
            assert_eq!(&bytes[..3], &[MARK, COMPRESSED, format.codec.tag()]);
            let body = match format.codec {
                Codec::Json => plain.len(),
                #[cfg(feature = "msgpack")]
                Codec::MessagePack => plain.len() - 2,
            };
            assert_eq!(bytes[3..7], u32::try_from(body).unwrap().to_le_bytes());
            assert!(
                bytes.len() * 4 < plain.len(),
                "{} vs {}",
                bytes.len(),
                plain.len()
            );
            assert_eq!(format.decode::<Vec<String>>(&bytes).unwrap(), large());
            // A reader that does not compress still reads it.
            let reader = Format {
                compress_above: None,
                ..format
            };
            assert_eq!(reader.decode::<Vec<String>>(&bytes).unwrap(), large());
        }
    }

    #[test]
    fn what_does_not_shrink_or_is_oversized_stays_plain() {
        let squeezing = format(Codec::Json, Some(0));
        // Short and incompressible: the frame would be longer.
        assert_eq!(squeezing.encode(&"x7").unwrap(), &b"\"x7\""[..]);
        // Larger than the maximum value size: never compressed, so the write refuses it and no
        // frame decompresses past the bound.
        let small_max = Format {
            max_bytes: 100,
            ..squeezing
        };
        let bytes = small_max.encode(&large()).unwrap();
        assert_eq!(bytes, serde_json::to_vec(&large()).unwrap());
    }

    #[test]
    fn frames_that_claim_too_much_or_lie_are_mismatches() {
        let squeezing = format(Codec::Json, Some(0));
        let bytes = squeezing.encode(&large()).unwrap().to_vec();
        // A reader with a smaller bound refuses before allocating.
        let small_max = Format {
            max_bytes: 1000,
            ..squeezing
        };
        assert!(matches!(
            small_max.decode::<Vec<String>>(&bytes),
            Err(DecodeError::Mismatch(Mismatch::TooLarge))
        ));
        // A stated length of 4 GiB - 1.
        let mut bomb = bytes.clone();
        bomb[3..7].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            squeezing.decode::<Vec<String>>(&bomb),
            Err(DecodeError::Mismatch(Mismatch::TooLarge))
        ));
        // A stated length one byte off either way.
        for delta in [-1i64, 1] {
            let mut lying = bytes.clone();
            let length = u32::from_le_bytes([bytes[3], bytes[4], bytes[5], bytes[6]]);
            let length = u32::try_from(i64::from(length) + delta).unwrap();
            lying[3..7].copy_from_slice(&length.to_le_bytes());
            assert!(matches!(
                squeezing.decode::<Vec<String>>(&lying),
                Err(DecodeError::Mismatch(Mismatch::Corrupt))
            ));
        }
        // A truncated block.
        assert!(is_mismatch(
            squeezing.decode::<Vec<String>>(&bytes[..bytes.len() - 3])
        ));
    }
}

#[cfg(not(feature = "compress"))]
#[test]
fn without_the_feature_a_compressed_frame_is_a_mismatch() {
    let frame = [MARK, COMPRESSED, JSON, 2, 0, 0, 0, 0x20, b'4', b'2'];
    assert!(matches!(
        json().decode::<u32>(&frame),
        Err(DecodeError::Mismatch(Mismatch::Compressed))
    ));
}

proptest! {
    /// Nothing panics on any bytes, whatever the reader's format: garbage is an error.
    #[test]
    fn any_bytes_decode_without_panicking(
        head in prop_oneof![
            Just(vec![]),
            Just(vec![MARK]),
            Just(vec![MARK, MESSAGE_PACK]),
            Just(vec![MARK, COMPRESSED, JSON]),
            Just(vec![MARK, COMPRESSED, MESSAGE_PACK]),
            Just(vec![MARK, COMPRESSED, JSON, 64, 0, 0, 0]),
            Just(vec![MARK, COMPRESSED, MESSAGE_PACK, 64, 0, 0, 0]),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = head;
        bytes.extend(tail);
        for format in formats() {
            let _ = format.decode::<serde_json::Value>(&bytes);
            let _ = format.decode::<Report>(&bytes);
            let _ = format.decode::<(f64, String)>(&bytes);
            let _ = format.reads(&bytes);
        }
    }

    /// JSON round trips every finite float to the same bits (`float_roundtrip`).
    #[test]
    fn json_is_bit_identical_for_finite_floats(
        bits in proptest::collection::vec(any::<u64>(), 0..40),
        compress in any::<bool>(),
    ) {
        let format = format(Codec::Json, compress.then_some(0));
        let floats: Vec<f64> = bits
            .iter()
            .map(|bits| f64::from_bits(*bits))
            .filter(|f| f.is_finite())
            .collect();
        let bytes = format.encode(&floats).unwrap();
        let back: Vec<f64> = format.decode(&bytes).unwrap();
        let back: Vec<u64> = back.iter().map(|f| f.to_bits()).collect();
        let floats: Vec<u64> = floats.iter().map(|f| f.to_bits()).collect();
        prop_assert_eq!(back, floats);
    }
}
