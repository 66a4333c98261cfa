//! Canonical JSON, the bytes every federation signature covers: UTF-8, no insignificant
//! whitespace, object keys sorted by code point, integers only (within ±(2^53−1)), no
//! floats, and the shortest escapes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, else
//! `\u00xx` for the other control characters; everything else as itself). Reading refuses
//! duplicate keys, floats and integers out of range, so that two readers can never see
//! two different objects in the same bytes. The key order is this module's own: it does
//! not depend on the ordering of any map type.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The largest integer exactly representable everywhere JSON is read (2^53 − 1).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Arrays and objects nested deeper than this are refused (a message is a few levels deep).
const MAX_DEPTH: usize = 32;

/// A JSON value as federation messages may carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    String(String),
    Array(Vec<Value>),
    /// Keys in code point order (the order of Rust's `str` comparison on UTF-8).
    Object(BTreeMap<String, Value>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("not JSON: {0}")]
    Syntax(String),
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    #[error("a number that is not an integer within ±(2^53−1)")]
    Number,
    #[error("nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
}

impl Value {
    /// Reads JSON text, refusing what canonical JSON cannot carry.
    pub fn parse(bytes: &[u8]) -> Result<Value, CanonicalError> {
        let mut reader = serde_json::Deserializer::from_slice(bytes);
        let value = Reader { depth: 0 }.deserialize(&mut reader).map_err(classify)?;
        reader.end().map_err(|e| CanonicalError::Syntax(e.to_string()))?;
        Ok(value)
    }

    /// From a `serde_json` value (what this instance builds itself).
    pub fn from_json(json: &serde_json::Value) -> Result<Value, CanonicalError> {
        Ok(match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Int(safe(n.as_i64().ok_or(CanonicalError::Number)?)?),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from_json).collect::<Result<_, _>>()?)
            }
            serde_json::Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), Value::from_json(v)?))).collect::<Result<_, _>>()?)
            }
        })
    }

    /// Its canonical bytes.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write(&mut out);
        out
    }

    /// The same object without one of its members (the `signatures` of a signed object).
    pub fn without(&self, key: &str) -> Value {
        match self {
            Value::Object(map) => {
                Value::Object(map.iter().filter(|(k, _)| *k != key).map(|(k, v)| (k.clone(), v.clone())).collect())
            }
            other => other.clone(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(map) => map.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Value::Object(map) => {
                out.push(b'{');
                for (i, (key, value)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(key, out);
                    out.push(b':');
                    value.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn safe(n: i64) -> Result<i64, CanonicalError> {
    if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) { Ok(n) } else { Err(CanonicalError::Number) }
}

/// Our errors travel through serde_json's as text: read them back.
fn classify(e: serde_json::Error) -> CanonicalError {
    let text = e.to_string();
    if let Some(key) = text.strip_prefix("duplicate key ").and_then(|rest| rest.split(" at line").next()) {
        CanonicalError::DuplicateKey(key.trim_matches('"').to_owned())
    } else if text.starts_with(NUMBER) {
        CanonicalError::Number
    } else if text.starts_with(DEPTH) {
        CanonicalError::TooDeep
    } else {
        CanonicalError::Syntax(text)
    }
}

const NUMBER: &str = "number out of the canonical range";
const DEPTH: &str = "nested too deep";

/// Builds a [`Value`] while reading, so that duplicate keys and floats are seen (a map
/// built by serde_json would keep the last duplicate silently).
struct Reader {
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for Reader {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Reader {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Value, E> {
        safe(n).map(Value::Int).map_err(|_| E::custom(NUMBER))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Value, E> {
        i64::try_from(n).ok().and_then(|n| safe(n).ok()).map(Value::Int).ok_or_else(|| E::custom(NUMBER))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Err(E::custom(NUMBER))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(DEPTH));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Reader { depth: self.depth + 1 })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(DEPTH));
        }
        let mut members = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Reader { depth: self.depth + 1 })?;
            if members.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests;
