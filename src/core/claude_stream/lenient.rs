//! Lenient serde readers for the stream's fields.
//!
//! Every reader accepts any JSON value: one of the wrong type reads as
//! `None` (and is skipped, not stored) instead of failing the line, so
//! `"num_turns":"three"` is no number of turns, not a malformed line.
//! Strings are cut to a bounded preview as they are read ([`Text`]), arrays
//! are counted and only their first entries kept ([`bounded`]). Nothing here
//! recurses deeper than the structs being read: values that are skipped go
//! to serde's `IgnoredAny`, which serde_json skips without recursion.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;

/// Identifiers, names, versions, reasons: at most this many characters.
pub(super) const NAME_CHARS: usize = 128;
/// Paths.
pub(super) const PATH_CHARS: usize = 1024;
/// Texts kept as a preview (result text, assistant text, error messages).
pub(super) const PREVIEW_CHARS: usize = 200;
/// Content blocks kept per message (the rest are counted).
pub(super) const MAX_BLOCKS: usize = 64;
/// Entries kept of a list of names (permission denials, MCP errors).
pub(super) const MAX_NAMES: usize = 16;

/// A string as read: its first characters and its full length.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Text {
    /// The first characters (at most the limit of the field).
    pub preview: String,
    /// The whole string's length in bytes (UTF-8, after JSON unescaping).
    pub bytes: usize,
}

impl Text {
    pub(super) fn cut(s: &str, max_chars: usize) -> Text {
        let end = s.char_indices().nth(max_chars).map_or(s.len(), |(i, _)| i);
        Text {
            preview: s[..end].to_owned(),
            bytes: s.len(),
        }
    }

    /// Whether the preview holds the whole string.
    pub fn is_whole(&self) -> bool {
        self.preview.len() == self.bytes
    }
}

/// The first entries of an array, and how many it had.
pub(super) struct List<T> {
    pub kept: Vec<T>,
    pub total: usize,
}

/// Any JSON value, as far as a field of one type cares.
enum Scalar {
    Absent,
    Bool(bool),
    Uint(u64),
    Int(i64),
    Float(f64),
    Str(Text),
}

/// Reads any value; keeps scalars (strings cut to `max_chars`), skips the
/// rest.
struct ScalarVisitor {
    max_chars: usize,
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::Uint(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(Text::cut(v, self.max_chars)))
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Absent)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Absent)
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D, max_chars: usize) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor { max_chars })
}

fn string<'de, D: Deserializer<'de>>(d: D, max_chars: usize) -> Result<Option<String>, D::Error> {
    Ok(match scalar(d, max_chars)? {
        Scalar::Str(t) => Some(t.preview),
        _ => None,
    })
}

pub(super) fn name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string(d, NAME_CHARS)
}

pub(super) fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string(d, PATH_CHARS)
}

pub(super) fn preview<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text>, D::Error> {
    Ok(match scalar(d, PREVIEW_CHARS)? {
        Scalar::Str(t) => Some(t),
        _ => None,
    })
}

/// A non-negative integer, also from an integral float or a string.
pub(super) fn uint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match scalar(d, 32)? {
        Scalar::Uint(v) => Some(v),
        Scalar::Int(v) => u64::try_from(v).ok(),
        Scalar::Float(v) if v >= 0.0 && v.fract() == 0.0 && v < 1.8e19 => Some(v as u64),
        Scalar::Str(t) => t.preview.trim().parse().ok(),
        _ => None,
    })
}

/// A finite number, also from a string.
pub(super) fn float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = match scalar(d, 32)? {
        Scalar::Uint(v) => Some(v as f64),
        Scalar::Int(v) => Some(v as f64),
        Scalar::Float(v) => Some(v),
        Scalar::Str(t) => t.preview.trim().parse().ok(),
        _ => None,
    };
    Ok(v.filter(|v: &f64| v.is_finite()))
}

pub(super) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match scalar(d, 8)? {
        Scalar::Bool(v) => Some(v),
        Scalar::Str(t) if t.preview == "true" => Some(true),
        Scalar::Str(t) if t.preview == "false" => Some(false),
        _ => None,
    })
}

/// How many entries an array has; `None` for anything else.
pub(super) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = Option<u32>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<u32>, A::Error> {
            let mut n = 0u32;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                n = n.saturating_add(1);
            }
            Ok(Some(n))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<u32>, A::Error> {
            skip_map(map)
        }
    }
    d.deserialize_any(Lenient(Count))
}

/// An object read as `T`; anything else reads as `None`.
pub(super) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Objects(PhantomData).read(d)
}

pub(super) fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<List<T>>, D::Error> {
    bounded(d, Objects(PhantomData), MAX_NAMES)
}

pub(super) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<List<Text>>, D::Error> {
    bounded(d, Texts, MAX_NAMES)
}

/// How one entry of an array is read.
pub(super) trait Entry<'de>: Copy {
    type Item;
    fn read<D: Deserializer<'de>>(self, d: D) -> Result<Option<Self::Item>, D::Error>;
    /// What a bare string in place of the array stands for.
    fn bare_string(self, _text: &str) -> Option<Self::Item> {
        None
    }
}

/// Objects read as `T`.
pub(super) struct Objects<T>(pub(super) PhantomData<fn() -> T>);

impl<T> Clone for Objects<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Objects<T> {}

impl<'de, T: Deserialize<'de>> Entry<'de> for Objects<T> {
    type Item = T;
    fn read<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        struct Obj<T>(PhantomData<fn() -> T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Obj<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
                skip_seq(seq)
            }
        }
        d.deserialize_any(Lenient(Obj(PhantomData)))
    }
}

/// Strings, each cut to a preview.
#[derive(Clone, Copy)]
struct Texts;

impl<'de> Entry<'de> for Texts {
    type Item = Text;
    fn read<D: Deserializer<'de>>(self, d: D) -> Result<Option<Text>, D::Error> {
        preview(d)
    }
}

struct EntrySeed<E>(E);

impl<'de, E: Entry<'de>> DeserializeSeed<'de> for EntrySeed<E> {
    type Value = Option<E::Item>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.read(d)
    }
}

/// An array whose first `max` entries are read by `entry` (entries that
/// read as `None` are dropped) and the rest skipped; all are counted.
pub(super) fn bounded<'de, D: Deserializer<'de>, E: Entry<'de>>(
    d: D,
    entry: E,
    max: usize,
) -> Result<Option<List<E::Item>>, D::Error> {
    struct Arr<E> {
        entry: E,
        max: usize,
    }
    impl<'de, E: Entry<'de>> Visitor<'de> for Arr<E> {
        type Value = Option<List<E::Item>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut list = List {
                kept: Vec::new(),
                total: 0,
            };
            loop {
                if list.kept.len() < self.max {
                    match seq.next_element_seed(EntrySeed(self.entry))? {
                        None => break,
                        Some(Some(item)) => list.kept.push(item),
                        Some(None) => {}
                    }
                } else if seq.next_element::<IgnoredAny>()?.is_none() {
                    break;
                }
                list.total += 1;
            }
            Ok(Some(list))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            skip_map(map)
        }
        fn visit_str<E2: de::Error>(self, v: &str) -> Result<Self::Value, E2> {
            Ok(self.entry.bare_string(v).map(|item| List {
                kept: vec![item],
                total: 1,
            }))
        }
    }
    d.deserialize_any(Lenient(Arr { entry, max }))
}

fn skip_map<'de, A: MapAccess<'de>, T>(mut map: A) -> Result<Option<T>, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(None)
}

fn skip_seq<'de, A: SeqAccess<'de>, T>(mut seq: A) -> Result<Option<T>, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(None)
}

/// Wraps a visitor that takes arrays and objects (`visit_seq`, `visit_map`,
/// perhaps `visit_str`) so that every other value reads as `None` instead of
/// being an error.
struct Lenient<V>(V);

impl<'de, T, V: Visitor<'de, Value = Option<T>>> Visitor<'de> for Lenient<V> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        self.0.visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        self.0.visit_seq(seq)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        self.0.visit_str::<E>(v).or(Ok(None))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
}

/// At most [`PREVIEW_CHARS`] characters of `s`, for messages built here.
pub(super) fn clip(s: &str) -> &str {
    let end = s
        .char_indices()
        .nth(PREVIEW_CHARS)
        .map_or(s.len(), |(i, _)| i);
    &s[..end]
}
