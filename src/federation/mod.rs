//! Federation between the instances of a territory (`docs/federation.md`): canonical JSON,
//! the instance's keys and signatures with domain separation, and its published key
//! document. Only what is listed here is used outside the module.

mod agendas;
mod auth;
mod canonical;
mod client;
mod delivery;
mod files;
#[cfg(test)]
mod golden;
mod keys;
mod message;
mod operations;
mod outbox;
mod pairing;
mod peer;
mod receive;
pub mod records;
mod roster;
mod rotation;
mod shared;
mod topics;

pub use agendas::{after_event_tx, share_all_tx, shared_here};
pub use auth::{AuthError, Authorization, Delivery, MAX_SKEW_MS};
pub use canonical::{CanonicalError, MAX_SAFE_INTEGER, Value};
pub use client::{Client, ClientError, is_public};
pub use delivery::{MAX_BATCH, MAX_BATCH_BYTES, backoff, run, send_path};
pub use keys::{
    Context, DOCUMENT_VALIDITY_MS, Identity, Instance, KeyRing, OwnKeys, RetiredKey, SignatureError, add_signature,
    fingerprint, key_document, key_id, public_key, sign, signed_bytes, verify,
};
pub use message::{Draft, MAX_MESSAGE_BYTES, Message, ObjectRef, PinnedKey, Rejection, TYPES, mirror_id, new_id};
pub use operations::{DeadLetterView, PeerDelivery};
pub use outbox::Outbox;
pub use pairing::{Federation, IssuedInvitation, PairingView};
pub use peer::{
    INVITATION_DAYS, Invitation, InvitationLink, Peer, PeerKey, PeerStatus, invitation_link, proof, same_proof,
    short_code,
};
pub use receive::Refused;
pub use rotation::Rotation;
pub use shared::{after_change_tx, forward_tx};
pub use topics::{after_post_tx, after_topic_tx};
