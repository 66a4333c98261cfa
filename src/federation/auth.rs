//! The signature of one HTTP delivery between instances: every attempt is signed afresh,
//! binding the method, path, origin, destination, time and the SHA-256 of the body, in an
//! `Authorization` header:
//!
//! ```text
//! Authorization: Guichet origin="https://a.example", destination="https://b.example",
//!     key="ed25519:…", ts=1795435200000, digest="<SHA-256 of the body, hex>", sig="<base64url>"
//! ```
//!
//! The receiver checks it cheapest first, and learns whether the sender is a paired peer
//! before anything else is done with what it sent: syntax, destination, peer, time, key,
//! signature, then the body's hash.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::canonical::Value;
use super::keys::{Context, key_id, signed_bytes};

/// How far apart two instances' clocks may be.
pub const MAX_SKEW_MS: i64 = 10 * 60 * 1000;

/// What a delivery is, as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub origin: &'a str,
    pub destination: &'a str,
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
}

impl Delivery<'_> {
    fn object(&self, digest: &str) -> Value {
        let text = |s: &str| Value::String(s.to_owned());
        Value::Object(BTreeMap::from([
            ("method".to_owned(), text(self.method)),
            ("path".to_owned(), text(self.path)),
            ("origin".to_owned(), text(self.origin)),
            ("destination".to_owned(), text(self.destination)),
            ("ts".to_owned(), Value::Int(self.ts)),
            ("body_sha256".to_owned(), text(digest)),
        ]))
    }

    /// The `Authorization` header of this delivery of `body`, signed with `key`.
    pub fn authorization(&self, key: &SigningKey, body: &[u8]) -> String {
        use ed25519_dalek::Signer;
        let digest = body_digest(body);
        let signature = key.sign(&signed_bytes(Context::Request, &self.object(&digest)));
        format!(
            "Guichet origin=\"{}\", destination=\"{}\", key=\"{}\", ts={}, digest=\"{digest}\", sig=\"{}\"",
            self.origin,
            self.destination,
            key_id(&key.verifying_key()),
            self.ts,
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

/// Why a delivery was refused, in the order the checks are made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed Authorization header")]
    Malformed,
    #[error("addressed to another instance")]
    WrongDestination,
    #[error("not a paired instance")]
    UnknownPeer,
    #[error("clocks differ by more than ten minutes (server time {server_time})")]
    ClockSkew { server_time: i64 },
    #[error("unknown key for this instance")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the body is not the one signed")]
    BodyMismatch,
}

fn body_digest(body: &[u8]) -> String {
    crate::domain::audit::hex(&Sha256::digest(body))
}

impl AuthError {
    /// The stable code sent back.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Malformed => "malformed_authorization",
            AuthError::WrongDestination => "wrong_destination",
            AuthError::UnknownPeer => "unknown_peer",
            AuthError::ClockSkew { .. } => "clock_skew",
            AuthError::UnknownKey => "unknown_key",
            AuthError::BadSignature => "bad_signature",
            AuthError::BodyMismatch => "body_mismatch",
        }
    }
}

/// A parsed `Authorization` header, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub origin: String,
    pub destination: String,
    pub key: String,
    pub ts: i64,
    digest: String,
    signature: [u8; 64],
}

/// Longest header accepted (a real one is about 250 bytes).
const MAX_HEADER: usize = 1024;

impl Authorization {
    pub fn parse(header: &str) -> Result<Authorization, AuthError> {
        if header.len() > MAX_HEADER {
            return Err(AuthError::Malformed);
        }
        let rest = header.strip_prefix("Guichet ").ok_or(AuthError::Malformed)?;
        let mut fields = BTreeMap::new();
        for part in rest.split(',') {
            let (name, value) = part.trim().split_once('=').ok_or(AuthError::Malformed)?;
            let value = match value.strip_prefix('"') {
                Some(quoted) => quoted.strip_suffix('"').ok_or(AuthError::Malformed)?,
                None => value,
            };
            if value.contains('"') || fields.insert(name, value).is_some() {
                return Err(AuthError::Malformed);
            }
        }
        let field = |name: &str| fields.get(name).copied().filter(|v| !v.is_empty()).ok_or(AuthError::Malformed);
        let signature = URL_SAFE_NO_PAD.decode(field("sig")?).map_err(|_| AuthError::Malformed)?;
        let authorization = Authorization {
            origin: field("origin")?.to_owned(),
            destination: field("destination")?.to_owned(),
            key: field("key")?.to_owned(),
            ts: field("ts")?.parse().map_err(|_| AuthError::Malformed)?,
            digest: field("digest")?.to_owned(),
            signature: signature.try_into().map_err(|_| AuthError::Malformed)?,
        };
        if fields.len() != 6 {
            return Err(AuthError::Malformed);
        }
        Ok(authorization)
    }

    /// Checks the delivery of `body` to `method path` at `me`, at `now_ms`: `peer_keys`
    /// answers the pinned keys (by id) of a paired instance, `None` for any other — it is
    /// asked only once the destination is known to be this instance.
    pub fn check(
        &self,
        (method, path, body): (&str, &str, &[u8]),
        me: &str,
        now_ms: i64,
        peer_keys: impl FnOnce(&str) -> Option<BTreeMap<String, VerifyingKey>>,
    ) -> Result<(), AuthError> {
        if self.destination != me {
            return Err(AuthError::WrongDestination);
        }
        let keys = peer_keys(&self.origin).ok_or(AuthError::UnknownPeer)?;
        if self.ts.abs_diff(now_ms) > MAX_SKEW_MS.unsigned_abs() {
            return Err(AuthError::ClockSkew { server_time: now_ms });
        }
        let key = keys.get(&self.key).ok_or(AuthError::UnknownKey)?;
        let delivery = Delivery { method, path, origin: &self.origin, destination: &self.destination, ts: self.ts };
        let bytes = signed_bytes(Context::Request, &delivery.object(&self.digest));
        key.verify_strict(&bytes, &Signature::from_bytes(&self.signature)).map_err(|_| AuthError::BadSignature)?;
        if body_digest(body) != self.digest {
            return Err(AuthError::BodyMismatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
