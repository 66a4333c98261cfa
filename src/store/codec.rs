//! Versioned values: one version byte, then JSON. Readers upgrade older versions through
//! `migrate` before deserialising, so a record written by any earlier release still reads.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{Error, Result};

/// A kind of stored record and its current schema version.
pub trait Versioned: Serialize + DeserializeOwned {
    const KIND: &'static str;
    const VERSION: u8;

    /// Rewrites a value of an older version into the current shape.
    fn upgrade(version: u8, _value: serde_json::Value) -> Result<serde_json::Value> {
        Err(Error::Store(format!("{} version {version} is not supported", Self::KIND)))
    }
}

pub fn encode<T: Versioned>(value: &T) -> Result<Vec<u8>> {
    let mut bytes = vec![T::VERSION];
    serde_json::to_writer(&mut bytes, value).map_err(|e| Error::Internal(format!("encode {}: {e}", T::KIND)))?;
    Ok(bytes)
}

pub fn decode<T: Versioned>(bytes: &[u8]) -> Result<T> {
    let (&version, json) = bytes.split_first().ok_or_else(|| Error::Store(format!("empty {} value", T::KIND)))?;
    let corrupt = |e: serde_json::Error| Error::Store(format!("corrupt {} value: {e}", T::KIND));
    if version == T::VERSION {
        return serde_json::from_slice(json).map_err(corrupt);
    }
    if version > T::VERSION {
        return Err(Error::Store(format!(
            "{} version {version} is newer than this release understands ({})",
            T::KIND,
            T::VERSION
        )));
    }
    let value = serde_json::from_slice(json).map_err(corrupt)?;
    let upgraded = T::upgrade(version, value)?;
    serde_json::from_value(upgraded).map_err(corrupt)
}

/// Version byte of a stored value.
pub fn version_of(bytes: &[u8]) -> Option<u8> {
    bytes.first().copied()
}
