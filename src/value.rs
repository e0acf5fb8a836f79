//! The JSON value model: objects keep their members sorted in RFC 8785 order.
//!
//! ```
//! use batch_sync::value::Value;
//! let v = Value::parse(br#"{"b":1,"a":[true,null]}"#).unwrap();
//! assert_eq!(v.get("a").and_then(|a| a.as_array()).map(|a| a.len()), Some(2));
//! ```
//!
//! Numbers are IEEE-754 doubles (as in JCS). Object members are stored sorted by the UTF-16
//! code units of their keys, so canonical output is a straight walk and lookups are binary
//! searches. Duplicate keys cannot be represented: the parser rejects them.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::Error;
use crate::parse;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A finite IEEE-754 double.
    Number(f64),
    /// A Unicode string (never holds a lone surrogate).
    String(Str),
    /// An array.
    Array(Vec<Value>),
    /// An object with unique keys in RFC 8785 order.
    Object(Map),
}

/// A string value: up to 22 bytes inline (most field values are short), longer ones on the
/// heap. Reads as a `&str`.
#[derive(Clone)]
pub struct Str(StrRepr);

#[derive(Clone)]
enum StrRepr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

const INLINE: usize = 22;

impl Str {
    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            StrRepr::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                // SAFETY: the inline bytes are always a copy of a whole `&str` (the only way one
                // is made, `From<&str>` below, copies `s.len()` bytes of `s`), so they are UTF-8.
                // Checking them again on every read was a measurable share of merges and
                // canonical writing (BENCHMARKS.md, issue 12).
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            StrRepr::Heap(b) => b,
        }
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            StrRepr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            StrRepr::Heap(b) => b.as_bytes(),
        }
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Str(StrRepr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            Str(StrRepr::Heap(s.into()))
        }
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            Str::from(s.as_str())
        } else {
            Str(StrRepr::Heap(s.into_boxed_str()))
        }
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Self) -> bool {
        crate::canon_text::same_bytes(self.as_bytes(), other.as_bytes())
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object key. Shared: the parser interns repeated keys, and merges reuse them.
pub type Key = Arc<str>;

/// An object: members sorted by the UTF-16 code units of their keys, keys unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: Vec<(Key, Value)>,
}

/// Compares two strings by their UTF-16 code units (RFC 8785 §3.2.3).
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    // Byte order is code point order; the one place UTF-16 differs is settled by the lead bytes.
    crate::canon_text::key_order(a.as_bytes(), b.as_bytes())
}

/// Sorts members into canonical order and keeps only the first of each repeated key; returns
/// a repeated key, if there was one.
pub(crate) fn dedup_first(entries: &mut Vec<(Key, Value)>) -> Option<Key> {
    entries.sort_by(|x, y| cmp_utf16(&x.0, &y.0)); // stable: the first occurrence stays first
    let mut dup = None;
    entries.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same && dup.is_none() {
            dup = Some(later.0.clone());
        }
        same
    });
    dup
}

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Map::default()
    }

    /// Builds a map from members in any order; returns the first duplicated key on failure.
    pub fn from_entries(mut entries: Vec<(Key, Value)>) -> Result<Self, Key> {
        if !entries
            .windows(2)
            .all(|w| cmp_utf16(&w[0].0, &w[1].0) == Ordering::Less)
        {
            entries.sort_by(|x, y| cmp_utf16(&x.0, &y.0));
            if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(w[0].0.clone());
            }
        }
        Ok(Map { entries })
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| cmp_utf16(k, key))
    }

    /// The member value for `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// A mutable reference to the member value for `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self.find(key) {
            Ok(i) => Some(&mut self.entries[i].1),
            Err(_) => None,
        }
    }

    /// Sets `key`, returning the previous value.
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// Keeps the members for which `keep` is true (order unchanged); `keep` may edit values.
    pub fn retain_mut(&mut self, mut keep: impl FnMut(&Key, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Members in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The first key (in canonical order) that is not in `allowed`: for rejecting typos.
    pub fn key_not_in(&self, allowed: &[&str]) -> Option<&Key> {
        self.entries
            .iter()
            .map(|(k, _)| k)
            .find(|k| !allowed.contains(&&***k))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All keys of `self` and `other`, merged in canonical order, without repeats.
    pub fn union_keys<'a>(&'a self, other: &'a Map) -> Vec<&'a Key> {
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.entries, &other.entries);
        let mut out = Vec::with_capacity(a.len().max(b.len()));
        while i < a.len() || j < b.len() {
            let ord = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => cmp_utf16(&x.0, &y.0),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match ord {
                Ordering::Less => {
                    out.push(&a[i].0);
                    i += 1;
                }
                Ordering::Greater => {
                    out.push(&b[j].0);
                    j += 1;
                }
                Ordering::Equal => {
                    out.push(&a[i].0);
                    i += 1;
                    j += 1;
                }
            }
        }
        out
    }
}

impl Value {
    /// Parses one JSON text with the default limits (see [`parse::Parser`]).
    pub fn parse(input: &[u8]) -> Result<Value, Error> {
        parse::Parser::new(parse::HARD_MAX_DEPTH).parse(input)
    }

    /// The member `key` if this is an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.get(key),
            _ => None,
        }
    }

    /// The object map, if this is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The array, if this is an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The number, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The JSON type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Nesting depth: scalars 0, `[]` and `{}` 1, each level adds one.
    pub fn depth(&self) -> usize {
        match self {
            Value::Array(a) => 1 + a.iter().map(Value::depth).max().unwrap_or(0),
            Value::Object(m) => 1 + m.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Builds an object from members (later duplicates replace earlier ones).
    pub fn object<I: IntoIterator<Item = (K, Value)>, K: Into<Key>>(members: I) -> Value {
        let mut m = Map::new();
        for (k, v) in members {
            m.insert(k, v);
        }
        Value::Object(m)
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(Str::from(s.into()))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}
impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Number(n as f64)
    }
}
impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(n as f64)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(Str::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Str::from(s))
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_order_differs_from_byte_order_above_the_bmp() {
        // U+FFFD (EF BF BD) sorts after U+1F600 in UTF-16 (D83D ...) but before it in UTF-8.
        assert_eq!(cmp_utf16("\u{FFFD}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(cmp_utf16("a", "ab"), Ordering::Less);
        assert_eq!(cmp_utf16("\u{80}", "\u{7F}"), Ordering::Greater);
    }

    #[test]
    fn strings_inline_up_to_22_bytes_and_read_back_whole() {
        for n in [0, 1, 21, 22, 23, 100] {
            let s = "é".repeat(n / 2) + &"x".repeat(n % 2);
            let v = Value::from(s.clone());
            assert_eq!(v.as_str(), Some(s.as_str()));
            assert_eq!(v, Value::from(s.as_str()));
        }
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let e = Map::from_entries(vec![("a".into(), Value::Null), ("a".into(), Value::Null)]);
        assert_eq!(&*e.unwrap_err(), "a");
    }
}

/// serde support (feature `serde`), for embedders.
#[cfg(feature = "serde")]
mod serde_impl {
    use super::{Key, Map, Str, Value};
    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde::ser::{SerializeMap, SerializeSeq};

    impl serde::Serialize for Value {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Value::Null => s.serialize_unit(),
                Value::Bool(b) => s.serialize_bool(*b),
                Value::Number(n) => s.serialize_f64(*n),
                Value::String(x) => s.serialize_str(x),
                Value::Array(a) => {
                    let mut seq = s.serialize_seq(Some(a.len()))?;
                    for x in a {
                        seq.serialize_element(x)?;
                    }
                    seq.end()
                }
                Value::Object(m) => {
                    let mut map = s.serialize_map(Some(m.len()))?;
                    for (k, v) in m.iter() {
                        map.serialize_entry(&**k, v)?;
                    }
                    map.end()
                }
            }
        }
    }

    /// Deserialises with a depth budget, so a deeply nested JS object cannot overflow the stack.
    struct Depth(usize);

    impl<'de> DeserializeSeed<'de> for Depth {
        type Value = Value;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Depth {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
            Ok(Value::Bool(b))
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
            if n.is_finite() {
                Ok(Value::Number(n))
            } else {
                Err(E::custom(
                    "number_out_of_range: NaN and Infinity are not JSON",
                ))
            }
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
            Ok(Value::Number(n as f64))
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
            Ok(Value::Number(n as f64))
        }
        fn visit_str<E>(self, s: &str) -> Result<Value, E> {
            Ok(Value::String(Str::from(s)))
        }
        fn visit_string<E>(self, s: String) -> Result<Value, E> {
            Ok(Value::String(Str::from(s)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
            let next = self
                .0
                .checked_sub(1)
                .ok_or_else(|| de::Error::custom("depth_exceeded"))?;
            let mut out = Vec::new();
            while let Some(v) = a.next_element_seed(Depth(next))? {
                out.push(v);
            }
            Ok(Value::Array(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
            let next = self
                .0
                .checked_sub(1)
                .ok_or_else(|| de::Error::custom("depth_exceeded"))?;
            let mut entries: Vec<(Key, Value)> = Vec::new();
            while let Some(k) = a.next_key::<String>()? {
                let v = a.next_value_seed(Depth(next))?;
                entries.push((Key::from(k), v));
            }
            Map::from_entries(entries)
                .map(Value::Object)
                .map_err(|k| de::Error::custom(format!("duplicate_key: {k}")))
        }
    }

    impl<'de> serde::Deserialize<'de> for Value {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
            Depth(crate::parse::HARD_MAX_DEPTH).deserialize(d)
        }
    }
}
