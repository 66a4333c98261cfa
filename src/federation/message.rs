//! The federation message: its envelope, checked on receipt before anything is applied
//! (schema, the sender's authority to speak for its origin, this instance among the
//! recipients, the origin's signature with a key pinned for it), and built and signed on
//! sending. The bytes received are kept with the message, so that its signature can be
//! checked again later.

use std::collections::BTreeMap;

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::canonical::{MAX_SAFE_INTEGER, Value};
use super::keys::{Context, SignatureError, add_signature, key_id, verify};

/// Every message type of version 1, and nothing else.
pub const TYPES: &[&str] = &[
    "request.forward",
    "request.accept",
    "request.reject",
    "request.status",
    "request.comment",
    "request.withdraw",
    "request.transfer",
    "agenda.event.upsert",
    "agenda.event.cancel",
    "topic.create",
    "topic.post",
    "topic.post.edit",
    "topic.post.delete",
    "roster.update",
    "roster.remove",
    "key.rotate",
    "pair.request",
    "pair.accept",
];

/// A message's recipients at most (the instances of one territory).
pub const MAX_RECIPIENTS: usize = 100;
/// A message's size at most, in canonical bytes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The object a message is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: String,
    /// Scoped by the object's owner.
    pub id: String,
    pub version: i64,
}

/// A checked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub kind: String,
    pub origin: String,
    pub key: String,
    pub to: Vec<String>,
    pub created_at: i64,
    pub object: ObjectRef,
    pub content: Value,
    /// The whole message as received (signatures included).
    pub value: Value,
}

/// Why a message is refused; `code` is what the sender reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("invalid message: {0}")]
    Schema(&'static str),
    #[error("unknown message type")]
    UnknownType,
    #[error("the message speaks for another instance than its sender")]
    NotFromSender,
    #[error("this instance is not among the recipients")]
    NotForUs,
    #[error("signed with a key not pinned for its origin")]
    UnknownKey,
    #[error("signed with a retired key after its end")]
    RetiredKey,
    #[error("the signature does not verify")]
    BadSignature,
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Schema(_) => "invalid_message",
            Rejection::UnknownType => "unknown_type",
            Rejection::NotFromSender => "not_from_sender",
            Rejection::NotForUs => "not_for_us",
            Rejection::UnknownKey => "unknown_key",
            Rejection::RetiredKey => "retired_key",
            Rejection::BadSignature => "bad_signature",
        }
    }
}

/// A key pinned for a peer: current (`retired_at` none), or retired at that instant (it
/// still verifies what was created before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedKey {
    pub key: VerifyingKey,
    pub retired_at: Option<i64>,
}

/// A message id: a UUID version 7 (time-ordered), from the time and 74 random bits.
pub fn new_id(now_ms: i64, random: [u8; 10]) -> String {
    let ms = (now_ms.clamp(0, (1 << 48) - 1) as u64).to_be_bytes();
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms[2..]);
    b[6..].copy_from_slice(&random);
    b[6] = 0x70 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    let h = crate::domain::audit::hex(&b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn is_uuid_v7(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    let lengths = parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12];
    lengths
        && id.bytes().all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && parts[2].starts_with('7')
        && parts[3].starts_with(['8', '9', 'a', 'b'])
}

/// A base URL as instances name each other: `https://host[:port]`, or `http://` (tests and
/// development on loopback), no path, no trailing slash.
pub(super) fn is_base_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|host| {
        !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    })
}

/// The id of an object (an agenda, an event, a topic, a post) as its owner names it:
/// 1 to 64 letters, digits, `-` or `_`.
pub(super) fn is_object_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The id here of an object owned by a peer: scoped by that peer, so that a peer can only
/// ever write its own.
pub fn mirror_id(peer: &str, id: &str) -> String {
    let digest = Sha256::digest(peer.as_bytes());
    format!("fed-{}-{id}", &crate::domain::audit::hex(&digest[..4]))
}

/// The id of an object at its owner, from its id here.
pub fn owner_id(peer: &str, mirror: &str) -> Option<String> {
    let prefix = mirror_id(peer, "");
    mirror.strip_prefix(&prefix).map(str::to_owned)
}

fn text<'a>(value: &'a Value, field: &'static str) -> Result<&'a str, Rejection> {
    value.get(field).and_then(Value::as_str).ok_or(Rejection::Schema(field))
}

fn integer(value: &Value, field: &'static str) -> Result<i64, Rejection> {
    match value.get(field) {
        Some(Value::Int(n)) => Ok(*n),
        _ => Err(Rejection::Schema(field)),
    }
}

impl Message {
    /// Checks a message received by `me`. `pinned(origin, type)` answers the keys pinned
    /// for the message's origin when the delivery's sender may deliver that message: always
    /// its own messages; another's only when it is that origin's EPCI relaying it (then the
    /// origin's own signature is what counts); `None` otherwise.
    pub fn check(
        value: Value,
        me: &str,
        pinned: impl FnOnce(&str, &str) -> Option<BTreeMap<String, PinnedKey>>,
    ) -> Result<Message, Rejection> {
        if value.canonical().len() > MAX_MESSAGE_BYTES {
            return Err(Rejection::Schema("size"));
        }
        if integer(&value, "v")? != 1 {
            return Err(Rejection::Schema("v"));
        }
        let id = text(&value, "id")?;
        if !is_uuid_v7(id) {
            return Err(Rejection::Schema("id"));
        }
        let kind = text(&value, "type")?;
        if !TYPES.contains(&kind) {
            return Err(Rejection::UnknownType);
        }
        let origin = text(&value, "origin")?;
        if !is_base_url(origin) {
            return Err(Rejection::Schema("origin"));
        }
        let key = text(&value, "key")?;
        let to = match value.get("to") {
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_RECIPIENTS => items
                .iter()
                .map(|t| t.as_str().filter(|t| is_base_url(t)).map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(Rejection::Schema("to"))?,
            _ => return Err(Rejection::Schema("to")),
        };
        let created_at = integer(&value, "created_at")?;
        if !(0..=MAX_SAFE_INTEGER).contains(&created_at) {
            return Err(Rejection::Schema("created_at"));
        }
        let object = value.get("object").ok_or(Rejection::Schema("object"))?;
        let object = ObjectRef {
            kind: text(object, "kind")?.to_owned(),
            id: text(object, "id")?.to_owned(),
            version: integer(object, "version")?,
        };
        if object.kind.is_empty() || object.id.is_empty() || object.id.len() > 200 || object.version < 0 {
            return Err(Rejection::Schema("object"));
        }
        let content = match value.get("content") {
            Some(c @ Value::Object(_)) => c.clone(),
            _ => return Err(Rejection::Schema("content")),
        };
        if !to.iter().any(|t| t == me) {
            return Err(Rejection::NotForUs);
        }
        // Authority: the sender speaks for itself only (or the EPCI relays).
        let keys = pinned(origin, kind).ok_or(Rejection::NotFromSender)?;
        let pin = keys.get(key).ok_or(Rejection::UnknownKey)?;
        if pin.retired_at.is_some_and(|at| created_at >= at) {
            return Err(Rejection::RetiredKey);
        }
        if key_id(&pin.key) != key {
            return Err(Rejection::UnknownKey);
        }
        verify(origin, &pin.key, Context::Message, &value).map_err(|e| match e {
            SignatureError::Missing(_)
            | SignatureError::Malformed
            | SignatureError::Invalid
            | SignatureError::Json(_) => Rejection::BadSignature,
        })?;
        Ok(Message {
            id: id.to_owned(),
            kind: kind.to_owned(),
            origin: origin.to_owned(),
            key: key.to_owned(),
            to,
            created_at,
            object,
            content,
            value,
        })
    }
}

/// What a new message says, before it is signed.
pub struct Draft<'a> {
    pub id: String,
    pub kind: &'a str,
    pub origin: &'a str,
    pub to: &'a [String],
    pub created_at: i64,
    pub object: &'a ObjectRef,
    pub content: Value,
}

impl Draft<'_> {
    /// The message, signed by its origin with `key`.
    pub fn sign(self, key: &SigningKey) -> Value {
        let s = |v: &str| Value::String(v.to_owned());
        let object = Value::Object(BTreeMap::from([
            ("kind".to_owned(), s(&self.object.kind)),
            ("id".to_owned(), s(&self.object.id)),
            ("version".to_owned(), Value::Int(self.object.version)),
        ]));
        let mut message = Value::Object(BTreeMap::from([
            ("v".to_owned(), Value::Int(1)),
            ("id".to_owned(), s(&self.id)),
            ("type".to_owned(), s(self.kind)),
            ("origin".to_owned(), s(self.origin)),
            ("key".to_owned(), s(&key_id(&key.verifying_key()))),
            ("to".to_owned(), Value::Array(self.to.iter().map(|t| s(t)).collect())),
            ("created_at".to_owned(), Value::Int(self.created_at)),
            ("object".to_owned(), object),
            ("content".to_owned(), self.content),
        ]));
        add_signature(&mut message, self.origin, key, Context::Message);
        message
    }
}

#[cfg(test)]
mod tests;
