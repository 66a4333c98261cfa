//! The instance's identity: its ed25519 key, the key's id and fingerprint, signatures with
//! domain separation, and the self-signed key document peers fetch at
//! `/.well-known/guichet/keys`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::canonical::{CanonicalError, Value};

/// What a signature is for: the first bytes signed, so that a signature made for one
/// purpose is never valid for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A federation message.
    Message,
    /// An HTTP request (the `Authorization` header of a delivery).
    Request,
    /// A key document.
    Keys,
    /// A pairing step.
    Pairing,
}

impl Context {
    pub fn prefix(self) -> &'static [u8] {
        match self {
            Context::Message => b"guichet/v1/msg\0",
            Context::Request => b"guichet/v1/req\0",
            Context::Keys => b"guichet/v1/keys\0",
            Context::Pairing => b"guichet/v1/pair\0",
        }
    }
}

/// `ed25519:` and the first 9 bytes of the SHA-256 of the public key, in base64url.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("ed25519:{}", URL_SAFE_NO_PAD.encode(&digest[..9]))
}

/// The SHA-256 of the public key, in groups of four hexadecimal digits, as admins read it
/// out to each other when they pair their instances.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let hex = crate::domain::audit::hex(&Sha256::digest(key.as_bytes()));
    hex.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

/// The bytes a signature covers: the context's prefix, then the canonical JSON of the
/// object without its `signatures` member.
pub fn signed_bytes(context: Context, object: &Value) -> Vec<u8> {
    let mut bytes = context.prefix().to_vec();
    bytes.extend_from_slice(&object.without("signatures").canonical());
    bytes
}

/// A signature of `object` for `context`, in base64url.
pub fn sign(key: &SigningKey, context: Context, object: &Value) -> String {
    URL_SAFE_NO_PAD.encode(key.sign(&signed_bytes(context, object)).to_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature by {0}")]
    Missing(String),
    #[error("malformed signature")]
    Malformed,
    #[error("the signature does not verify")]
    Invalid,
    #[error(transparent)]
    Json(#[from] CanonicalError),
}

/// Checks the signature `origin` made with `key` over `object` for `context`
/// (`verify_strict`: no small-order keys, no malleable signatures).
pub fn verify(origin: &str, key: &VerifyingKey, context: Context, object: &Value) -> Result<(), SignatureError> {
    let id = key_id(key);
    let encoded = object
        .get("signatures")
        .and_then(|s| s.get(origin))
        .and_then(|s| s.get(&id))
        .and_then(Value::as_str)
        .ok_or_else(|| SignatureError::Missing(format!("{origin} ({id})")))?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| SignatureError::Malformed)?;
    let signature = Signature::from_slice(&bytes).map_err(|_| SignatureError::Malformed)?;
    key.verify_strict(&signed_bytes(context, object), &signature).map_err(|_| SignatureError::Invalid)
}

/// Adds `origin`'s signature with `key` to `object`'s `signatures` (kept: other signers').
pub fn add_signature(object: &mut Value, origin: &str, key: &SigningKey, context: Context) {
    let signature = sign(key, context, object);
    let Value::Object(members) = object else { return };
    let signatures = members.entry("signatures".to_owned()).or_insert_with(|| Value::Object(Default::default()));
    if let Value::Object(by_origin) = signatures {
        let mine = by_origin.entry(origin.to_owned()).or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(by_key) = mine {
            by_key.insert(key_id(&key.verifying_key()), Value::String(signature));
        }
    }
}

/// Who this instance is, as its key document says.
#[derive(Debug, Clone)]
pub struct Identity {
    pub base_url: String,
    pub name: String,
    /// `commune`, `epci` or `partner`.
    pub kind: String,
    /// INSEE code (communes) or SIREN (EPCI, partners).
    pub code: String,
}

/// How long a key document stays valid after it is served (peers fetch it again then).
pub const DOCUMENT_VALIDITY_MS: i64 = 7 * 24 * 3600 * 1000;

/// The self-signed key document, valid from `now_ms` for [`DOCUMENT_VALIDITY_MS`].
pub fn key_document(identity: &Identity, key: &SigningKey, old: &[RetiredKey], now_ms: i64) -> Value {
    let public = key.verifying_key();
    let text = |s: &str| Value::String(s.to_owned());
    let current = Value::Object(
        [(
            key_id(&public),
            Value::Object([("public_key".to_owned(), text(&URL_SAFE_NO_PAD.encode(public.as_bytes())))].into()),
        )]
        .into(),
    );
    let old_keys = Value::Object(
        old.iter()
            .map(|r| {
                let entry = [
                    ("public_key".to_owned(), text(&r.public_key)),
                    ("retired_at".to_owned(), Value::Int(r.retired_at)),
                ];
                (r.id.clone(), Value::Object(entry.into()))
            })
            .collect(),
    );
    let mut document = Value::Object(
        [
            ("v".to_owned(), Value::Int(1)),
            ("base_url".to_owned(), text(&identity.base_url)),
            ("name".to_owned(), text(&identity.name)),
            ("kind".to_owned(), text(&identity.kind)),
            ("code".to_owned(), text(&identity.code)),
            ("keys".to_owned(), current),
            ("old_keys".to_owned(), old_keys),
            ("valid_until".to_owned(), Value::Int(now_ms + DOCUMENT_VALIDITY_MS)),
        ]
        .into(),
    );
    add_signature(&mut document, &identity.base_url, key, Context::Keys);
    document
}

/// This instance's private keys: the first one (`instance.key`) and those made by
/// rotations. Which one is current, and when the others were retired, is the store's
/// record ([`OwnKeys`]): the outbox reads it inside each write, so every message written
/// after a rotation is signed with the new key and none before it.
pub struct KeyRing {
    keys: RwLock<BTreeMap<String, SigningKey>>,
    /// The store's record as last set, and its current key.
    state: RwLock<(OwnKeys, SigningKey)>,
    /// Where rotations write new keys.
    dir: PathBuf,
}

impl KeyRing {
    /// The ring of `first` and `others` (from `dir`), `first` current until the store
    /// says otherwise.
    pub fn new(first: SigningKey, others: Vec<SigningKey>, dir: PathBuf) -> KeyRing {
        let state = (OwnKeys { current: key_id(&first.verifying_key()), retired: Vec::new() }, first.clone());
        let keys = std::iter::once(first).chain(others).map(|k| (key_id(&k.verifying_key()), k)).collect();
        KeyRing { keys: RwLock::new(keys), state: RwLock::new(state), dir }
    }

    /// The file of a key made by a rotation.
    pub fn file(dir: &Path, key: &VerifyingKey) -> PathBuf {
        dir.join(format!("{}.key", key_id(key).trim_start_matches("ed25519:")))
    }

    /// A new key, written durably (mode 0600) before it is used, and added to the ring.
    pub fn generate(&self) -> crate::domain::Result<SigningKey> {
        use crate::domain::Error;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Internal(format!("random source: {e}")))?;
        let key = SigningKey::from_bytes(&seed);
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::Store(format!("{}: {e}", self.dir.display())))?;
        crate::store::write_private_file(&Self::file(&self.dir, &key.verifying_key()), &seed)?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::Store(format!("{}: {e}", self.dir.display())))?;
        self.add(key.clone());
        Ok(key)
    }

    /// Takes the store's record as the truth (at start-up, and after a rotation).
    pub fn set_state(&self, state: OwnKeys) -> Result<(), String> {
        let Some(current) = self.key(&state.current) else {
            return Err(format!("the private part of the current key {} is missing", state.current));
        };
        let mut s = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *s = (state, current);
        Ok(())
    }

    /// The record as last set.
    pub fn state(&self) -> OwnKeys {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner).0.clone()
    }

    pub fn key(&self, id: &str) -> Option<SigningKey> {
        self.keys.read().ok()?.get(id).cloned()
    }

    /// Adds a key made by a rotation (its file written).
    pub fn add(&self, key: SigningKey) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(key_id(&key.verifying_key()), key);
        }
    }

    /// The current key.
    pub fn current(&self) -> SigningKey {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner).1.clone()
    }

    /// The retired keys still held, newest first (a delivery falls back to them while a
    /// peer has not yet learnt of a rotation).
    pub fn retired(&self) -> Vec<SigningKey> {
        let state = self.state();
        state.retired.iter().rev().filter_map(|r| self.key(&r.id)).collect()
    }
}

/// Which of this instance's keys is current, and the keys it retired.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OwnKeys {
    pub current: String,
    pub retired: Vec<RetiredKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetiredKey {
    pub id: String,
    /// base64url.
    pub public_key: String,
    /// Messages created from this instant (ms) on are no longer signed with it.
    pub retired_at: i64,
}

/// This instance as its peers know it: its identity and its keys (never printed: no
/// `Debug`).
pub struct Instance {
    pub identity: Identity,
    ring: Arc<KeyRing>,
}

impl Instance {
    pub fn new(identity: Identity, ring: Arc<KeyRing>) -> Instance {
        Instance { identity, ring }
    }

    /// The key document to publish, valid from `now_ms`: the current key, and the
    /// retired ones with the instant they stopped signing.
    pub fn key_document(&self, now_ms: i64) -> Value {
        let old = self.ring.state().retired;
        key_document(&self.identity, &self.ring.current(), &old, now_ms)
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.ring.current().verifying_key())
    }

    pub(super) fn signing_key(&self) -> SigningKey {
        self.ring.current()
    }
}

/// A public key from its base64url form.
pub fn public_key(encoded: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(encoded).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests;
