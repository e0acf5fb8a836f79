//! JSON Pointers (RFC 6901): parse, get, set and remove on [`Value`]s.
//!
//! ```
//! use batch_sync::{pointer::Pointer, value::Value};
//! let v = Value::parse(br#"{"_links":{"status":{"title":"New"}},"a/b":1}"#).unwrap();
//! let p = Pointer::parse("/_links/status/title").unwrap();
//! assert_eq!(p.get(&v).and_then(Value::as_str), Some("New"));
//! assert_eq!(Pointer::parse("/a~1b").unwrap().get(&v), Some(&Value::Number(1.0)));
//! ```

use std::fmt;

use crate::error::{Error, ErrorCode};
use crate::value::{Map, Value};

/// A parsed JSON Pointer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pointer {
    tokens: Vec<String>,
}

/// Escapes one reference token (`~` → `~0`, `/` → `~1`).
pub fn escape_token(t: &str) -> String {
    if t.contains(['~', '/']) {
        t.replace('~', "~0").replace('/', "~1")
    } else {
        t.to_owned()
    }
}

impl Pointer {
    /// The root pointer `""`.
    pub fn root() -> Self {
        Pointer { tokens: Vec::new() }
    }

    /// Parses `""` or `/a/b`. A name without a leading `/` is not a pointer.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.is_empty() {
            return Ok(Pointer::root());
        }
        let Some(rest) = s.strip_prefix('/') else {
            return Err(Error::new(
                ErrorCode::InvalidPointer,
                format!("JSON Pointer \"{s}\" must be empty or start with '/'"),
            ));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut t = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => t.push('~'),
                        Some('1') => t.push('/'),
                        _ => {
                            return Err(Error::new(
                                ErrorCode::InvalidPointer,
                                format!("JSON Pointer \"{s}\" has an invalid '~' escape"),
                            ))
                        }
                    }
                } else {
                    t.push(c);
                }
            }
            tokens.push(t);
        }
        Ok(Pointer { tokens })
    }

    /// A field name (`status`) or a pointer (`/status`): the config convention for id fields.
    pub fn field(s: &str) -> Result<Self, Error> {
        if s.starts_with('/') || s.is_empty() {
            Pointer::parse(s)
        } else {
            Ok(Pointer {
                tokens: vec![s.to_owned()],
            })
        }
    }

    /// The reference tokens.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// True for the root pointer.
    pub fn is_root(&self) -> bool {
        self.tokens.is_empty()
    }

    /// A pointer one level deeper.
    pub fn child(&self, token: &str) -> Pointer {
        let mut tokens = self.tokens.clone();
        tokens.push(token.to_owned());
        Pointer { tokens }
    }

    /// True when `self` is `other` or lies under it.
    pub fn starts_with(&self, other: &Pointer) -> bool {
        self.tokens.len() >= other.tokens.len()
            && self.tokens[..other.tokens.len()] == other.tokens[..]
    }

    /// The value at this pointer.
    pub fn get<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        let mut cur = v;
        for t in &self.tokens {
            cur = match cur {
                Value::Object(m) => m.get(t)?,
                Value::Array(a) => a.get(array_index(t)?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Sets the value, creating intermediate objects. Fails where a non-object is in the way.
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), Error> {
        let Some((last, parents)) = self.tokens.split_last() else {
            *root = value;
            return Ok(());
        };
        let mut cur = root;
        for t in parents {
            cur = match cur {
                Value::Object(m) => {
                    if m.get(t).is_none() {
                        m.insert(t.clone(), Value::Object(Map::new()));
                    }
                    match m.get_mut(t) {
                        Some(x) => x,
                        None => return Err(self.blocked()),
                    }
                }
                Value::Array(a) => match array_index(t).and_then(|i| a.get_mut(i)) {
                    Some(x) => x,
                    None => return Err(self.blocked()),
                },
                _ => return Err(self.blocked()),
            };
        }
        match cur {
            Value::Object(m) => {
                m.insert(last.clone(), value);
                Ok(())
            }
            Value::Array(a) => match array_index(last).and_then(|i| a.get_mut(i)) {
                Some(x) => {
                    *x = value;
                    Ok(())
                }
                None => Err(self.blocked()),
            },
            _ => Err(self.blocked()),
        }
    }

    /// Removes and returns the value at this pointer (object members only).
    pub fn remove(&self, root: &mut Value) -> Option<Value> {
        let (last, parents) = self.tokens.split_last()?;
        let mut cur = root;
        for t in parents {
            cur = match cur {
                Value::Object(m) => m.get_mut(t)?,
                Value::Array(a) => a.get_mut(array_index(t)?)?,
                _ => return None,
            };
        }
        match cur {
            Value::Object(m) => m.remove(last),
            _ => None,
        }
    }

    fn blocked(&self) -> Error {
        Error::new(
            ErrorCode::MappingFailed,
            format!("cannot set {self}: a non-object value is in the way"),
        )
        .at(self.to_string())
    }
}

fn array_index(t: &str) -> Option<usize> {
    if t == "0" || (!t.starts_with('0') && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())) {
        t.parse().ok()
    } else {
        None
    }
}

/// The JSON Pointer text of unescaped reference tokens (`["a/b", "0"]` → `/a~1b/0`).
pub fn render(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", escape_token(t)))
        .collect()
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(&self.tokens))
    }
}
