//! One key part: an argument value or a tenant id, escaped so that it is data, never syntax.
//!
//! Every byte of a string other than ASCII letters, digits, `-`, `_` and `.` becomes `%XX`. So a
//! value never contains `:`, `*`, `?`, `[`, `\`, `{`, `#` or `~`, cannot add a segment, cannot
//! match more than itself in a `SCAN MATCH` glob, and distinct values render distinct parts.
//!
//! A part keeps the value's JSON kind, so that the string `"7"` and the number `7` (two values an
//! untagged enum or a `serde_json::Value` can hold in one argument) never share a key:
//!
//! | value | part |
//! |---|---|
//! | string, `char`, unit enum variant (JSON strings) | the text, escaped: `7203`, `ShortTerm`, `a%3Ab` |
//! | number | `~` and the number: `~42`, `~-1.5`, `~1.0` (never `~1` for a float), `~NaN`, `~inf` |
//! | boolean | `~true`, `~false` |
//! | `None` | `~` |
//! | `Some(x)` | as `x`; `~` first when `x` renders as `~` alone (`Some(None)` is `~~`) |
//! | `()`, unit struct, `serde_json::Value::Null` | `~null` |
//! | anything else (struct, sequence, map, variant with data) | `~` and its escaped [canonical](super::canonical) JSON: maps sorted by key |
//!
//! Only strings render without the `~` marker, and no escaped string contains it, so no value of
//! another kind can read as a string.

use std::fmt::{self, Write as _};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::ser::{self, Impossible, Serialize};

use super::canonical::{write_canonical, write_float};
use super::error::KeyError;

/// Bytes left as they are in a key part; everything else is `%XX`.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// The marker that starts every part that is not a string; escaped in strings, so never
/// ambiguous.
const MARKER: char = '~';

/// Writes `text` escaped, so that it is data in a key and in a glob, never syntax.
pub(super) fn escape_into(out: &mut String, text: &str) {
    out.extend(utf8_percent_encode(text, ESCAPED));
}

/// Writes one argument value as a key part.
pub(super) fn write_part<T: Serialize + ?Sized>(
    out: &mut String,
    value: &T,
) -> Result<(), KeyError> {
    let start = out.len();
    match value.serialize(PartSerializer { out: &mut *out }) {
        Ok(()) => Ok(()),
        Err(KeyError::Compound) => {
            out.truncate(start);
            let mut text = String::new();
            write_canonical(&mut text, value)?;
            out.push(MARKER);
            escape_into(out, &text);
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Renders scalars directly and signals [`KeyError::Compound`] for everything else.
struct PartSerializer<'a> {
    out: &'a mut String,
}

impl PartSerializer<'_> {
    /// A number or boolean: the marker, then its text (digits, `-`, `.`, `e`, `NaN`, `inf`,
    /// `true`, `false`: nothing that needs escaping).
    fn marked(self, value: impl fmt::Display) -> Result<(), KeyError> {
        self.out.push(MARKER);
        write!(self.out, "{value}").map_err(|e| KeyError::Custom(e.to_string()))
    }
}

macro_rules! marked_scalars {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, value: $ty) -> Result<(), KeyError> { self.marked(value) })*
    };
}

impl ser::Serializer for PartSerializer<'_> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Impossible<(), KeyError>;
    type SerializeTuple = Impossible<(), KeyError>;
    type SerializeTupleStruct = Impossible<(), KeyError>;
    type SerializeTupleVariant = Impossible<(), KeyError>;
    type SerializeMap = Impossible<(), KeyError>;
    type SerializeStruct = Impossible<(), KeyError>;
    type SerializeStructVariant = Impossible<(), KeyError>;

    marked_scalars!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128
    );

    fn serialize_f32(self, value: f32) -> Result<(), KeyError> {
        self.out.push(MARKER);
        write_float(self.out, value);
        Ok(())
    }

    fn serialize_f64(self, value: f64) -> Result<(), KeyError> {
        self.out.push(MARKER);
        write_float(self.out, value);
        Ok(())
    }

    fn serialize_char(self, value: char) -> Result<(), KeyError> {
        escape_into(self.out, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<(), KeyError> {
        escape_into(self.out, value);
        Ok(())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_none(self) -> Result<(), KeyError> {
        self.out.push(MARKER);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        // `Some(x)` renders as `x`, unless `x` renders as markers alone (a `None`, a
        // `Some(None)`): then one more marker keeps `Some(None)` apart from `None`.
        let start = self.out.len();
        write_part(self.out, value)?;
        let part = &self.out[start..];
        if !part.is_empty() && part.bytes().all(|b| b == MARKER as u8) {
            self.out.insert(start, MARKER);
        }
        Ok(())
    }

    fn serialize_unit(self) -> Result<(), KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), KeyError> {
        escape_into(self.out, variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        write_part(self.out, value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, KeyError> {
        Err(KeyError::Compound)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, KeyError> {
        Err(KeyError::Compound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;

    fn part<T: Serialize + ?Sized>(value: &T) -> String {
        let mut out = String::new();
        write_part(&mut out, value).unwrap();
        out
    }

    #[derive(Serialize)]
    enum Kind {
        ShortTerm,
        Window(u32),
    }

    #[derive(Serialize)]
    struct Query {
        from: u32,
        to: u32,
    }

    #[test]
    fn strings_render_as_themselves_and_other_scalars_are_marked() {
        assert_eq!(part("7203"), "7203");
        assert_eq!(part(&Kind::ShortTerm), "ShortTerm");
        assert_eq!(part(&'x'), "x");
        assert_eq!(part(""), "");
        assert_eq!(part(&42u64), "~42");
        assert_eq!(part(&-7i8), "~-7");
        assert_eq!(part(&u128::MAX), "~340282366920938463463374607431768211455");
        assert_eq!(part(&-1.5f64), "~-1.5");
        assert_eq!(part(&1.0f64), "~1.0");
        assert_eq!(part(&0.1f32), "~0.1");
        assert_eq!(part(&1e300f64), "~1e300");
        assert_eq!(part(&f64::NAN), "~NaN");
        assert_eq!(part(&f64::NEG_INFINITY), "~-inf");
        assert_eq!(part(&true), "~true");
        assert_eq!(part(&()), "~null");
    }

    #[test]
    fn a_string_never_reads_as_another_kind() {
        for (text, other) in [
            ("7", part(&7u8)),
            ("true", part(&true)),
            ("null", part(&())),
        ] {
            assert_ne!(part(text), other);
            assert_eq!(part(&format!("~{text}")), format!("%7E{text}"));
        }
        assert_ne!(
            part(&1u32),
            part(&1.0f64),
            "an integer and a float are two kinds in JSON"
        );
    }
    #[test]
    fn syntax_characters_are_escaped() {
        assert_eq!(part("a:b"), "a%3Ab");
        assert_eq!(part("*?[]\\{}#~% "), "%2A%3F%5B%5D%5C%7B%7D%23%7E%25%20");
        assert_eq!(part("日本"), "%E6%97%A5%E6%9C%AC");
    }

    #[test]
    fn options_and_compound_values_are_marked() {
        assert_eq!(part(&None::<u32>), "~");
        assert_eq!(part(&Some(5u32)), "~5");
        assert_eq!(part(&Some("5")), "5");
        assert_eq!(part(&Some("")), "");
        assert_eq!(part(&Some(None::<u32>)), "~~");
        assert_eq!(part(&Some(Some(None::<u32>))), "~~~");
        assert_eq!(part(&Some(vec![1])), "~%5B1%5D");
        assert_eq!(part(&Kind::Window(3)), "~%7B%22Window%22%3A3%7D");
        assert_eq!(
            part(&Query { from: 1, to: 2 }),
            "~%7B%22from%22%3A1%2C%22to%22%3A2%7D"
        );
        assert_eq!(part(&vec![1, 2]), "~%5B1%2C2%5D");
    }

    proptest! {
        #[test]
        fn distinct_strings_render_distinct_parts_without_syntax(a in ".*", b in ".*") {
            let (pa, pb) = (part(a.as_str()), part(b.as_str()));
            prop_assert_eq!(a == b, pa == pb);
            for rendered in [&pa, &pb] {
                prop_assert!(rendered.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.%".contains(&c)));
            }
        }

        #[test]
        fn parts_hold_only_unreserved_bytes_escapes_and_the_marker(
            value in proptest::option::of(proptest::option::of(proptest::collection::vec(".*", 0..3))),
            number in any::<f64>(),
        ) {
            for rendered in [part(&value), part(&number), part(&(number, &value))] {
                prop_assert!(rendered.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.%~".contains(&c)), "{}", rendered);
            }
        }

        #[test]
        fn distinct_optional_values_render_distinct_parts(
            a in proptest::option::of(proptest::option::of(".*")),
            b in proptest::option::of(proptest::option::of(".*")),
        ) {
            prop_assert_eq!(a == b, part(&a) == part(&b));
        }

        #[test]
        fn distinct_tuples_of_parts_render_distinct_keys(
            a in proptest::collection::vec(".*", 1..4),
            b in proptest::collection::vec(".*", 1..4),
        ) {
            let join = |parts: &Vec<String>| {
                let mut out = String::new();
                for p in parts {
                    write_part(&mut out, p.as_str()).unwrap();
                    out.push(':');
                }
                out
            };
            prop_assert_eq!(a == b, join(&a) == join(&b));
        }
    }
}
