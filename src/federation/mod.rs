//! Federation between the instances of a territory (`docs/federation.md`): canonical JSON,
//! the instance's keys and signatures with domain separation, and its published key
//! document. Only what is listed here is used outside the module.

mod canonical;
mod keys;

pub use canonical::{CanonicalError, MAX_SAFE_INTEGER, Value};
pub use keys::{
    Context, DOCUMENT_VALIDITY_MS, Identity, Instance, SignatureError, add_signature, fingerprint, key_document,
    key_id, public_key, sign, signed_bytes, verify,
};
