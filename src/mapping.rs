//! Field mapping between the local (FLRTS) shape, the remote (OpenProject) shape and the common
//! shape that checksums and merges work on.
//!
//! ```
//! use batch_sync::{config::Side, mapping::{Links, Mapping}, time::Zone, value::Value};
//! let m = Mapping::from_value(&Value::parse(br#"[
//!   {"local": "/title", "remote": "/subject"},
//!   {"local": "/status", "remote": "/_links/status", "transform": "link_title"},
//!   {"local": "/notes", "remote": "/description", "transform": "formattable"}
//! ]"#).unwrap()).unwrap();
//! let wp = Value::parse(br#"{"subject":"Ship it","description":{"format":"markdown","raw":"Soon","html":"<p>Soon</p>"},
//!   "_links":{"status":{"href":"/api/v3/statuses/7","title":"In progress"}}}"#).unwrap();
//! let mut links = Links::default();
//! let common = m.to_common(Side::Remote, &wp, &Zone::Utc, Some(&mut links)).unwrap();
//! assert_eq!(batch_sync::canonical::to_string(&common), r#"{"notes":"Soon","status":"In progress","title":"Ship it"}"#);
//! let back = m.from_common(Side::Remote, &common, &links).unwrap();
//! assert_eq!(batch_sync::canonical::to_string(&back),
//!   r#"{"_links":{"status":{"href":"/api/v3/statuses/7","title":"In progress"}},"description":{"raw":"Soon"},"subject":"Ship it"}"#);
//! ```
//!
//! Transforms: `link_title` (a HAL link `{href, title}` ↔ its title; the href for a title comes
//! from `hrefs` in the config or from links seen on remote records of the same batch),
//! `link_id` (a HAL link ↔ the id at the end of its href, with `prefix`), `formattable`
//! (`{format, raw, html}` ↔ the raw text) — these three apply to the remote side — and `date`
//! (any date or timestamp ↔ `YYYY-MM-DD` in the configured zone) and `timestamp` (↔ RFC 3339
//! UTC), which normalise both sides. The common pointer is `field`, by default the local one.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

use crate::config::Side;
use crate::error::{Error, ErrorCode};
use crate::pointer::Pointer;
use crate::time::{parse_date, parse_instant, Zone};
use crate::value::{Map, Value};

/// A value transform.
#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    /// The value as it is.
    Identity,
    /// HAL link ↔ title.
    LinkTitle {
        /// Known hrefs by title.
        hrefs: Vec<(String, String)>,
    },
    /// HAL link ↔ trailing id of its href.
    LinkId {
        /// The href prefix before the id, e.g. `/api/v3/users/`.
        prefix: String,
    },
    /// OpenProject formattable text ↔ raw string.
    Formattable {
        /// The `format` written back (e.g. `markdown`), if any.
        format: Option<String>,
    },
    /// Date or timestamp ↔ `YYYY-MM-DD`.
    Date,
    /// Timestamp ↔ RFC 3339 UTC.
    Timestamp,
}

/// The JSON type a mapped field's value must have (besides `null`, which means "no value").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any value.
    Any,
    /// A string.
    String,
    /// A number.
    Number,
    /// An integer number.
    Integer,
    /// `true` or `false`.
    Boolean,
}

impl FieldType {
    fn parse(s: &str) -> Option<FieldType> {
        Some(match s {
            "any" => FieldType::Any,
            "string" => FieldType::String,
            "number" => FieldType::Number,
            "integer" => FieldType::Integer,
            "boolean" => FieldType::Boolean,
            _ => return None,
        })
    }

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Any => "any",
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Boolean => "boolean",
        }
    }

    fn admits(self, v: &Value) -> bool {
        match (self, v) {
            (FieldType::Any, _) | (_, Value::Null) => true,
            (FieldType::String, Value::String(_)) => true,
            (FieldType::Number, Value::Number(_)) => true,
            (FieldType::Integer, Value::Number(n)) => n.fract() == 0.0,
            (FieldType::Boolean, Value::Bool(_)) => true,
            _ => false,
        }
    }
}

/// One mapped field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap {
    common: Pointer,
    local: Pointer,
    remote: Pointer,
    transform: Transform,
    kind: FieldType,
}

/// A whole mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    fields: Vec<FieldMap>,
}

/// HAL link hrefs learned from remote records: (field index, title) → href.
#[derive(Debug, Clone, Default)]
pub struct Links {
    learned: HashMap<(usize, String), String, BuildHasherDefault<DefaultHasher>>,
}

fn bad(i: usize, msg: impl Into<String>) -> Error {
    Error::new(
        ErrorCode::InvalidConfig,
        format!("config.mapping[{i}]: {}", msg.into()),
    )
    .at(format!("/{i}"))
}

fn fail(side: Side, p: &Pointer, msg: impl Into<String>) -> Error {
    Error::new(
        ErrorCode::MappingFailed,
        format!("{} field {p}: {}", side.as_str(), msg.into()),
    )
    .at(p.to_string())
}

impl Mapping {
    /// Reads `[{local, remote, field?, transform?}, ...]`.
    pub fn from_value(v: &Value) -> Result<Mapping, Error> {
        let arr = v.as_array().ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidConfig,
                "config.mapping: expected an array of {local, remote}",
            )
        })?;
        let mut fields = Vec::with_capacity(arr.len());
        for (i, f) in arr.iter().enumerate() {
            let m = f.as_object().ok_or_else(|| bad(i, "expected an object"))?;
            if let Some(k) = m.key_not_in(&["local", "remote", "field", "transform", "type"]) {
                return Err(bad(i, format!("unknown key \"{k}\"")));
            }
            let ptr = |k: &str| -> Result<Option<Pointer>, Error> {
                match m.get(k) {
                    None => Ok(None),
                    Some(Value::String(s)) => {
                        Pointer::field(s).map(Some).map_err(|e| bad(i, e.message()))
                    }
                    Some(_) => Err(bad(i, format!("{k} must be a JSON Pointer string"))),
                }
            };
            let local = ptr("local")?.ok_or_else(|| bad(i, "local is required"))?;
            let remote = ptr("remote")?.ok_or_else(|| bad(i, "remote is required"))?;
            let common = ptr("field")?.unwrap_or_else(|| local.clone());
            if local.is_root() || remote.is_root() || common.is_root() {
                return Err(bad(i, "pointers must name a field, not the whole record"));
            }
            let transform = match m.get("transform") {
                None | Some(Value::Null) => Transform::Identity,
                Some(t) => transform(i, t)?,
            };
            // The value type: declared, or implied by the transform (dates, timestamps and the
            // OpenProject transforms hold strings or ids on the local side).
            let implied = match &transform {
                Transform::Identity => FieldType::Any,
                Transform::LinkId { .. } => FieldType::Any,
                _ => FieldType::String,
            };
            let kind = match m.get("type") {
                None | Some(Value::Null) => implied,
                Some(Value::String(t)) => match FieldType::parse(t) {
                    Some(k) if implied == FieldType::Any || k == implied || k == FieldType::Any => {
                        if k == FieldType::Any {
                            implied
                        } else {
                            k
                        }
                    }
                    Some(k) => {
                        return Err(bad(
                            i,
                            format!(
                                "type {} does not fit the transform (it holds {})",
                                k.as_str(),
                                implied.as_str()
                            ),
                        ))
                    }
                    None => {
                        return Err(bad(
                            i,
                            format!("unknown type \"{t}\" (any, string, number, integer, boolean)"),
                        ))
                    }
                },
                Some(_) => return Err(bad(i, "type must be a string")),
            };
            fields.push(FieldMap {
                common,
                local,
                remote,
                transform,
                kind,
            });
        }
        Ok(Mapping { fields })
    }

    /// Fills every mapped field that `common` lacks with `null`: in the common shape a mapped
    /// field always exists, and `null` is its only "no value" (absent and `null` are one state).
    pub fn complete(&self, common: &mut Value) -> Result<(), Error> {
        for f in &self.fields {
            if f.common.get(common).is_none() {
                f.common.set(common, Value::Null)?;
            }
        }
        Ok(())
    }

    /// The pointer, in `side`'s shape, of the value at `common` (tokens of the common shape):
    /// the mapped field that holds it, and the rest of the path within that field's value.
    pub fn side_path(&self, side: Side, common: &[String]) -> Option<String> {
        self.fields.iter().find_map(|f| {
            let head = f.common.tokens();
            let rest = common.strip_prefix(head)?;
            let p = match side {
                Side::Local => &f.local,
                Side::Remote => &f.remote,
            };
            Some(format!("{p}{}", crate::pointer::render(rest)))
        })
    }

    /// Projects a record of `side` to the common shape. Remote links are learned into `links`.
    /// Every mapped field is in the result; one the record lacks is `null`. A value whose type
    /// does not fit the field's type (declared, or implied by its transform) fails the record.
    pub fn to_common(
        &self,
        side: Side,
        rec: &Value,
        zone: &Zone,
        mut links: Option<&mut Links>,
    ) -> Result<Value, Error> {
        let mut out = Value::Object(Map::new());
        for (fi, f) in self.fields.iter().enumerate() {
            let p = match side {
                Side::Local => &f.local,
                Side::Remote => &f.remote,
            };
            let v = p.get(rec).unwrap_or(&Value::Null);
            let c = match (&f.transform, side, v) {
                (_, _, Value::Null) => Value::Null,
                (Transform::Identity, _, _) => v.clone(),
                (Transform::Date, _, _) => {
                    let s = v
                        .as_str()
                        .ok_or_else(|| fail(side, p, "expected a date string"))?;
                    Value::from(parse_date(s, zone).map_err(|e| fail(side, p, e))?)
                }
                (Transform::Timestamp, _, _) => {
                    let s = v
                        .as_str()
                        .ok_or_else(|| fail(side, p, "expected a timestamp string"))?;
                    Value::from(
                        parse_instant(s, zone)
                            .map_err(|e| fail(side, p, e))?
                            .to_rfc3339(),
                    )
                }
                (Transform::LinkId { .. }, Side::Local, Value::String(_)) => v.clone(),
                (Transform::LinkId { .. }, Side::Local, Value::Number(n)) if n.fract() == 0.0 => {
                    v.clone()
                }
                (Transform::LinkId { .. }, Side::Local, _) => {
                    return Err(fail(
                        side,
                        p,
                        format!("expected an id (string or integer), got {}", v.type_name()),
                    ))
                }
                (_, Side::Local, _) => v.clone(),
                // An unset link, as OpenProject writes one ({"href": null}, no title), or as a
                // merge patch that unset it leaves it ({}): no value.
                (Transform::LinkTitle { .. }, Side::Remote, Value::Object(_))
                    if matches!(v.get("href"), None | Some(Value::Null))
                        && matches!(v.get("title"), None | Some(Value::Null)) =>
                {
                    Value::Null
                }
                (Transform::LinkTitle { .. }, Side::Remote, _) => {
                    let title = v
                        .get("title")
                        .filter(|t| matches!(t, Value::String(_) | Value::Null))
                        .ok_or_else(|| fail(side, p, "expected a HAL link with a title string"))?;
                    if let (Some(l), Some(Value::String(t)), Some(Value::String(h))) =
                        (links.as_deref_mut(), Some(title), v.get("href"))
                    {
                        l.learned
                            .entry((fi, t.to_string()))
                            .or_insert_with(|| h.to_string());
                    }
                    title.clone()
                }
                (Transform::LinkId { prefix }, Side::Remote, _) => match v.get("href") {
                    None | Some(Value::Null) => Value::Null,
                    Some(Value::String(h)) => {
                        let id = h.strip_prefix(prefix.as_str()).ok_or_else(|| {
                            fail(
                                side,
                                p,
                                format!("href \"{h}\" does not start with \"{prefix}\""),
                            )
                        })?;
                        id_value(id)
                    }
                    Some(_) => return Err(fail(side, p, "expected a HAL link with an href")),
                },
                (Transform::Formattable { .. }, Side::Remote, _) => match v {
                    Value::String(_) => v.clone(),
                    _ => v
                        .get("raw")
                        .filter(|r| matches!(r, Value::String(_) | Value::Null))
                        .cloned()
                        .ok_or_else(|| {
                            fail(
                                side,
                                p,
                                "expected formattable text {format, raw, html} with a raw string",
                            )
                        })?,
                },
            };
            if !f.kind.admits(&c) {
                return Err(fail(
                    side,
                    p,
                    format!(
                        "expected {} {}, got {}",
                        article(f.kind),
                        f.kind.as_str(),
                        c.type_name()
                    ),
                ));
            }
            f.common
                .set(&mut out, c)
                .map_err(|e| e.context(&format!("mapping to {}", f.common)))?;
        }
        Ok(out)
    }

    /// Builds the `side` shape of a common record (only the mapped fields).
    pub fn from_common(&self, side: Side, common: &Value, links: &Links) -> Result<Value, Error> {
        let mut out = Value::Object(Map::new());
        for (fi, f) in self.fields.iter().enumerate() {
            let Some(v) = f.common.get(common) else {
                continue;
            };
            let p = match side {
                Side::Local => &f.local,
                Side::Remote => &f.remote,
            };
            let sv = match (&f.transform, side, v) {
                // No value for a link: OpenProject unsets a link with {"href": null}.
                (
                    Transform::LinkTitle { .. } | Transform::LinkId { .. },
                    Side::Remote,
                    Value::Null,
                ) => Value::object([("href", Value::Null)]),
                (_, _, Value::Null) => Value::Null,
                (Transform::Identity | Transform::Date | Transform::Timestamp, _, _)
                | (_, Side::Local, _) => v.clone(),
                (Transform::LinkTitle { hrefs }, Side::Remote, _) => {
                    let t = v
                        .as_str()
                        .ok_or_else(|| fail(Side::Local, &f.local, "expected a title string"))?;
                    let href = hrefs
                        .iter()
                        .find(|(k, _)| k == t)
                        .map(|(_, h)| h.clone())
                        .or_else(|| links.learned.get(&(fi, t.to_owned())).cloned())
                        .ok_or_else(|| fail(side, p, format!("no href known for title \"{t}\"; add it to the mapping's hrefs")))?;
                    Value::object([("href", Value::from(href)), ("title", v.clone())])
                }
                (Transform::LinkId { prefix }, Side::Remote, _) => {
                    let id = match v {
                        Value::String(s) => s.to_string(),
                        Value::Number(n) if n.fract() == 0.0 => crate::canonical::to_string(v),
                        _ => {
                            return Err(fail(
                                Side::Local,
                                &f.local,
                                "expected an id (string or integer)",
                            ))
                        }
                    };
                    Value::object([("href", Value::from(format!("{prefix}{id}")))])
                }
                (Transform::Formattable { format }, Side::Remote, _) => match format {
                    Some(fmt) => {
                        Value::object([("format", Value::str(fmt.clone())), ("raw", v.clone())])
                    }
                    None => Value::object([("raw", v.clone())]),
                },
            };
            p.set(&mut out, sv)
                .map_err(|e| e.context(&format!("mapping to the {} shape", side.as_str())))?;
        }
        Ok(out)
    }
}

fn article(k: FieldType) -> &'static str {
    match k {
        FieldType::Integer | FieldType::Any => "an",
        _ => "a",
    }
}

fn id_value(id: &str) -> Value {
    if !id.is_empty()
        && id.len() <= 15
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'))
    {
        id.parse::<f64>()
            .map(Value::Number)
            .unwrap_or_else(|_| Value::str(id))
    } else {
        Value::str(id)
    }
}

fn transform(i: usize, t: &Value) -> Result<Transform, Error> {
    let (name, opts) = match t {
        Value::String(s) => (s.as_str(), None),
        Value::Object(m) => (
            m.get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(i, "transform.type is required"))?,
            Some(m),
        ),
        _ => return Err(bad(i, "transform must be a name or an object with type")),
    };
    let opt_str = |k: &str| {
        opts.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(match name {
        "identity" => Transform::Identity,
        "link_title" => {
            let mut hrefs = Vec::new();
            if let Some(h) = opts.and_then(|m| m.get("hrefs")) {
                let hm = h.as_object().ok_or_else(|| bad(i, "hrefs must map titles to hrefs"))?;
                for (k, v) in hm.iter() {
                    let s = v.as_str().ok_or_else(|| bad(i, "hrefs values must be strings"))?;
                    hrefs.push((k.to_string(), s.to_owned()));
                }
            }
            Transform::LinkTitle { hrefs }
        }
        "link_id" => Transform::LinkId {
            prefix: opt_str("prefix").ok_or_else(|| bad(i, "link_id needs a prefix, e.g. /api/v3/users/"))?,
        },
        "formattable" => Transform::Formattable { format: opt_str("format") },
        "date" => Transform::Date,
        "timestamp" => Transform::Timestamp,
        other => {
            return Err(bad(
                i,
                format!("unknown transform \"{other}\" (identity, link_title, link_id, formattable, date, timestamp)"),
            ))
        }
    })
}
