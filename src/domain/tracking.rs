//! Tracking codes: what a citizen quotes on the phone to follow a request.
//!
//! Twelve Crockford base-32 characters shown as `7KQ4-M2XD-9RBH`: eleven random characters
//! (55 bits) and one Luhn mod 32 check character, so a mistyped code is told apart from an
//! unknown one. The alphabet has no I, L, O or U; on input those letters that look like
//! digits are read as the digits (Crockford's rule) and case, spaces and dashes are ignored.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const PAYLOAD_LEN: usize = 11;
const LEN: usize = PAYLOAD_LEN + 1;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackingCode([u8; LEN]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrackingCodeError {
    #[error("a tracking code has 12 characters")]
    Length,
    #[error("a tracking code has only digits and the letters A-Z except I, L, O and U")]
    Character,
    #[error("the check character does not match: the code was probably mistyped")]
    Check,
}

impl TrackingCode {
    /// Builds a code from 64 random bits (the low 55 are used).
    pub fn from_random(bits: u64) -> Self {
        let mut code = [0u8; LEN];
        for (i, slot) in code.iter_mut().take(PAYLOAD_LEN).enumerate() {
            let value = (bits >> (5 * i)) & 0x1f;
            *slot = ALPHABET[value as usize];
        }
        code[PAYLOAD_LEN] = ALPHABET[check_value(&code[..PAYLOAD_LEN]) as usize];
        TrackingCode(code)
    }

    /// Parses what a citizen typed or said.
    pub fn parse(input: &str) -> Result<Self, TrackingCodeError> {
        let mut code = [0u8; LEN];
        let mut len = 0;
        for c in input.chars() {
            if c == '-' || c == ' ' || c == '\u{a0}' {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !c.is_ascii() || value_of(c as u8).is_none() {
                return Err(TrackingCodeError::Character);
            }
            if len == LEN {
                return Err(TrackingCodeError::Length);
            }
            code[len] = c as u8;
            len += 1;
        }
        if len != LEN {
            return Err(TrackingCodeError::Length);
        }
        if check_value(&code[..PAYLOAD_LEN]) != value_of(code[PAYLOAD_LEN]).unwrap_or(u8::MAX) {
            return Err(TrackingCodeError::Check);
        }
        Ok(TrackingCode(code))
    }

    /// The twelve characters without separators (the storage key).
    pub fn compact(&self) -> &str {
        // The bytes always come from ALPHABET, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

fn value_of(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Luhn mod 32 check value of the payload.
fn check_value(payload: &[u8]) -> u8 {
    let n = 32u32;
    let mut factor = 2;
    let mut sum = 0u32;
    for &c in payload.iter().rev() {
        let addend = factor * u32::from(value_of(c).unwrap_or(0));
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / n + addend % n;
    }
    ((n - sum % n) % n) as u8
}

impl fmt::Display for TrackingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.compact();
        write!(f, "{}-{}-{}", &s[0..4], &s[4..8], &s[8..12])
    }
}

impl fmt::Debug for TrackingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrackingCode({self})")
    }
}

impl Serialize for TrackingCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TrackingCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        TrackingCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
