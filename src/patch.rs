//! RFC 7396 JSON Merge Patch: `diff` (the minimal patch) and `apply`.
//!
//! ```
//! use batch_sync::{patch, value::Value, canonical::to_string};
//! let a = Value::parse(br#"{"a":1,"b":{"c":2,"d":3}}"#).unwrap();
//! let b = Value::parse(br#"{"a":1,"b":{"c":4},"e":[5]}"#).unwrap();
//! let p = patch::diff(&a, &b);
//! assert_eq!(to_string(&p), r#"{"b":{"c":4,"d":null},"e":[5]}"#);
//! assert_eq!(patch::apply(&a, &p), b);
//! ```
//!
//! `apply` never mutates its inputs. A merge patch cannot express an object member whose value
//! is `null` (null means "remove"), so `apply(a, diff(a, b))` equals `b` with such members removed.

use crate::value::{Map, Value};

/// The minimal merge patch from `from` to `to`: `null` for each removed member, recursion into
/// objects present on both sides, the new value for everything else.
pub fn diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => Value::Object(diff_maps(a, b)),
        _ => to.clone(),
    }
}

fn diff_maps(a: &Map, b: &Map) -> Map {
    let mut out = Map::new();
    for k in a.union_keys(b) {
        match (a.get(k), b.get(k)) {
            (Some(_), None) => {
                out.insert(k.to_owned(), Value::Null);
            }
            (None, Some(y)) => {
                out.insert(k.to_owned(), y.clone());
            }
            (Some(x), Some(y)) if x != y => {
                out.insert(k.to_owned(), diff(x, y));
            }
            _ => {}
        }
    }
    out
}

/// Removes every object member whose value is `null`, at any depth (array elements are kept as
/// they are): what RFC 7396 makes of a document, since `null` cannot be stored by a merge patch.
pub fn remove_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain_mut(|_, x| {
            remove_nulls(x);
            !matches!(x, Value::Null)
        });
    }
}

/// True when the patch changes nothing on an object target (`{}`).
pub fn is_noop(patch: &Value) -> bool {
    matches!(patch, Value::Object(m) if m.is_empty())
}

/// Applies a merge patch to a target and returns the result.
pub fn apply(target: &Value, patch: &Value) -> Value {
    let Value::Object(pm) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (k, pv) in pm.iter() {
        if pv.is_null() {
            out.remove(k);
        } else {
            let next = match out.get(k) {
                Some(cur) => apply(cur, pv),
                None => apply(&Value::Null, pv),
            };
            out.insert(k.clone(), next);
        }
    }
    Value::Object(out)
}
