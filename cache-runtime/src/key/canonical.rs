//! The canonical text of a compound key argument (struct, sequence, map, variant with data):
//! JSON, except where JSON would let two distinct values, or two orders of one map, read alike.
//!
//! - Map entries are sorted by the text of their key, so equal `HashMap`s (whose iteration order
//!   differs from one map to the next) read alike; a key is written like a value, so `1` and
//!   `"1"` stay apart. Struct fields keep their declaration order.
//! - `Some(x)` is written as `x`, unless `x` is written `null` (a `None`, a `()`) or already
//!   carries such a mark: then `~` comes first, so `Some(None)` (`~null`) stays apart from `None`
//!   (`null`).
//! - Floats keep their kind and their exact value: `1.0` (never `1`), `1e300`, `NaN`, `inf`,
//!   `-inf` (JSON would write `null` for the last three).
//!
//! Everything else is serde_json's form: `[1,2]`, `{"from":1,"to":2}`, `{"Window":3}`, `"text"`,
//! `true`, `null`. The part writer escapes the result as a whole.

use std::fmt::Write as _;

use serde::ser::{self, Serialize};

use super::error::KeyError;

/// Writes `value` in its canonical text.
pub(super) fn write_canonical<T: Serialize + ?Sized>(
    out: &mut String,
    value: &T,
) -> Result<(), KeyError> {
    value.serialize(Canonical { out })
}

/// `value` in its canonical text, as a string of its own (a map's key or value before sorting).
fn canonical<T: Serialize + ?Sized>(value: &T) -> Result<String, KeyError> {
    let mut out = String::new();
    write_canonical(&mut out, value)?;
    Ok(out)
}

/// Whether `text` is `null` behind zero or more `~`: what `Some` must mark.
fn is_null_chain(text: &str) -> bool {
    text.trim_start_matches('~') == "null"
}

/// A JSON string literal: `"`, `\` and control characters escaped, so the closing quote is the
/// only unescaped `"`.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Rust's shortest exact form: `1.0`, `0.1`, `1e300`, `NaN`, `inf`, `-inf`.
pub(super) fn write_float(out: &mut String, value: impl std::fmt::Debug) {
    let _ = write!(out, "{value:?}");
}

struct Canonical<'a> {
    out: &'a mut String,
}

macro_rules! display_numbers {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method(self, value: $ty) -> Result<(), KeyError> {
            let _ = write!(self.out, "{value}");
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for Canonical<'a> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Group<'a>;
    type SerializeTuple = Group<'a>;
    type SerializeTupleStruct = Group<'a>;
    type SerializeTupleVariant = Group<'a>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Group<'a>;
    type SerializeStructVariant = Group<'a>;

    display_numbers!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128
    );

    fn serialize_bool(self, value: bool) -> Result<(), KeyError> {
        self.out.push_str(if value { "true" } else { "false" });
        Ok(())
    }

    fn serialize_f32(self, value: f32) -> Result<(), KeyError> {
        write_float(self.out, value);
        Ok(())
    }

    fn serialize_f64(self, value: f64) -> Result<(), KeyError> {
        write_float(self.out, value);
        Ok(())
    }

    fn serialize_char(self, value: char) -> Result<(), KeyError> {
        write_string(self.out, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<(), KeyError> {
        write_string(self.out, value);
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), KeyError> {
        let mut seq = Group::open(self.out, "", '[', "]");
        for byte in value {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        ser::SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result<(), KeyError> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), KeyError> {
        let start = self.out.len();
        write_canonical(self.out, value)?;
        if is_null_chain(&self.out[start..]) {
            self.out.insert(start, '~');
        }
        Ok(())
    }

    fn serialize_unit(self) -> Result<(), KeyError> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), KeyError> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), KeyError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        write_canonical(self.out, value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.out.push('{');
        write_string(self.out, variant);
        self.out.push(':');
        write_canonical(self.out, value)?;
        self.out.push('}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Group<'a>, KeyError> {
        Ok(Group::open(self.out, "", '[', "]"))
    }

    fn serialize_tuple(self, _: usize) -> Result<Group<'a>, KeyError> {
        Ok(Group::open(self.out, "", '[', "]"))
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Group<'a>, KeyError> {
        Ok(Group::open(self.out, "", '[', "]"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Group<'a>, KeyError> {
        Ok(Group::open(self.out, variant, '[', "]}"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Map<'a>, KeyError> {
        Ok(Map {
            out: self.out,
            entries: Vec::new(),
            key: None,
        })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Group<'a>, KeyError> {
        Ok(Group::open(self.out, "", '{', "}"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Group<'a>, KeyError> {
        Ok(Group::open(self.out, variant, '{', "}}"))
    }
}

/// A sequence's elements or a struct's fields, separated by `,`; with a variant name, inside
/// `{"Name":…}`.
struct Group<'a> {
    out: &'a mut String,
    first: bool,
    close: &'static str,
}

impl<'a> Group<'a> {
    fn open(out: &'a mut String, variant: &str, open: char, close: &'static str) -> Self {
        if !variant.is_empty() {
            out.push('{');
            write_string(out, variant);
            out.push(':');
        }
        out.push(open);
        let first = true;
        Group { out, first, close }
    }

    /// An element, or with a name a struct field (`"name":value`).
    fn item<T: Serialize + ?Sized>(
        &mut self,
        name: Option<&str>,
        value: &T,
    ) -> Result<(), KeyError> {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        if let Some(name) = name {
            write_string(self.out, name);
            self.out.push(':');
        }
        write_canonical(self.out, value)
    }

    fn close(self) -> Result<(), KeyError> {
        self.out.push_str(self.close);
        Ok(())
    }
}

macro_rules! group_impls {
    ($($trait:ident: $method:ident($($name:ident: $ty:ty)?)),*) => {
        $(impl ser::$trait for Group<'_> {
            type Ok = ();
            type Error = KeyError;

            fn $method<T: Serialize + ?Sized>(&mut self, $($name: $ty,)? value: &T) -> Result<(), KeyError> {
                self.item(None $(.or(Some($name)))?, value)
            }

            fn end(self) -> Result<(), KeyError> {
                self.close()
            }
        })*
    };
}

group_impls!(
    SerializeSeq: serialize_element(),
    SerializeTuple: serialize_element(),
    SerializeTupleStruct: serialize_field(),
    SerializeTupleVariant: serialize_field(),
    SerializeStruct: serialize_field(name: &'static str),
    SerializeStructVariant: serialize_field(name: &'static str)
);

/// A map's entries, each rendered on its own, written sorted when the map ends.
struct Map<'a> {
    out: &'a mut String,
    entries: Vec<(String, String)>,
    key: Option<String>,
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = KeyError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), KeyError> {
        self.key = Some(canonical(key)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), KeyError> {
        let key = self.key.take().unwrap_or_default();
        self.entries.push((key, canonical(value)?));
        Ok(())
    }

    fn end(mut self) -> Result<(), KeyError> {
        // By key, then by value: a total order on the texts, so equal maps are written alike.
        self.entries.sort_unstable();
        self.out.push('{');
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(key);
            self.out.push(':');
            self.out.push_str(value);
        }
        self.out.push('}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::Serialize;

    use super::canonical;

    #[derive(Serialize)]
    enum Shape {
        Point,
        Circle(f64),
        Rect(u32, u32),
        Named { z: u8, a: u8 },
    }

    #[derive(Serialize)]
    struct Query {
        to: u32,
        from: u32,
        skipped: (),
    }

    fn text<T: Serialize + ?Sized>(value: &T) -> String {
        canonical(value).unwrap()
    }

    #[test]
    fn compound_values_read_as_json() {
        assert_eq!(text(&vec![1, 2]), "[1,2]");
        assert_eq!(text(&(1, "a", true, ())), r#"[1,"a",true,null]"#);
        assert_eq!(
            text(&Query {
                to: 2,
                from: 1,
                skipped: ()
            }),
            r#"{"to":2,"from":1,"skipped":null}"#
        );
        assert_eq!(
            text(&[
                Shape::Point,
                Shape::Circle(1.0),
                Shape::Rect(1, 2),
                Shape::Named { z: 1, a: 2 }
            ]),
            r#"["Point",{"Circle":1.0},{"Rect":[1,2]},{"Named":{"z":1,"a":2}}]"#
        );
        assert_eq!(text(&["a\"b\\c\n"]), r#"["a\"b\\c\u000a"]"#);
        assert_eq!(text(&Blob(vec![1, 2])), "[1,2]");
    }

    /// Bytes through `serialize_bytes`, as `serde_bytes` writes them.
    struct Blob(Vec<u8>);

    impl Serialize for Blob {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    #[test]
    fn kinds_stay_apart() {
        assert_eq!(text(&[1.0_f64]), "[1.0]");
        assert_eq!(text(&[1_u32]), "[1]");
        assert_eq!(text(&["1"]), r#"["1"]"#);
        assert_eq!(
            text(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e300]),
            "[NaN,inf,-inf,-0.0,1e300]"
        );
        assert_eq!(
            text(&[None, Some(None), Some(Some(()))]),
            "[null,~null,~~null]"
        );
        assert_eq!(text(&[Some(Some(3))]), "[3]");
    }

    #[test]
    fn maps_are_sorted_by_key_and_keys_keep_their_kind() {
        let map: HashMap<String, u32> = (0..50).map(|i| (format!("k{i}"), i)).collect();
        let sorted: BTreeMap<String, u32> = map.clone().into_iter().collect();
        assert_eq!(text(&map), text(&sorted));
        assert!(text(&map).starts_with(r#"{"k0":0,"k1":1,"k10":10,"#));
        let by_number: HashMap<u32, &str> = [(1, "a"), (2, "b")].into();
        assert_eq!(text(&by_number), r#"{1:"a",2:"b"}"#);
        let by_text: HashMap<&str, &str> = [("1", "a"), ("2", "b")].into();
        assert_eq!(text(&by_text), r#"{"1":"a","2":"b"}"#);
    }
}
