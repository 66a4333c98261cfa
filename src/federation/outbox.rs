//! The transactional outbox: a message to a peer is signed and queued inside the same store
//! write as the change it tells of, so it is sent if and only if the change happened.

use std::collections::BTreeMap;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use jiff::Timestamp;

use super::canonical::Value;
use super::keys::{Context, KeyRing, add_signature};
use super::message::{Draft, ObjectRef, new_id};
use super::records::Queued;
use crate::domain::Error;
use crate::store::{Repos, Tx, TxResult};

/// The sequence numbering queued messages.
const QUEUE: &str = "federation_queue";

/// Puts a signed message at the end of its peer's queue: the one place that numbers them.
/// Whatever `seq` it carried is replaced.
pub(super) fn enqueue_tx(repos: &Repos, tx: &Tx<'_>, queued: Queued) -> TxResult<Queued> {
    let queued = Queued { seq: repos.meta.next(tx, QUEUE)?, ..queued };
    repos.federation.enqueue(tx, &queued)?;
    Ok(queued)
}

/// How many messages were ever queued, as `tx` sees it: a write that queued any changes it.
pub(super) fn queued_so_far_tx(repos: &Repos, tx: &Tx<'_>) -> TxResult<u64> {
    repos.meta.sequence_tx(tx, QUEUE)
}

/// What signs and queues this instance's messages; shared by every service.
pub struct Outbox {
    base_url: String,
    ring: Arc<KeyRing>,
    /// Wakes the senders when a message is queued.
    pub wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl Outbox {
    pub fn new(base_url: String, ring: Arc<KeyRing>) -> Outbox {
        Outbox { base_url, ring, wake: Arc::default() }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// The key current in the write `tx`: the one every message it queues is signed with.
    pub(super) fn current_key_tx(&self, repos: &Repos, tx: &Tx<'_>) -> TxResult<SigningKey> {
        let Some(own) = repos.federation.own_keys_tx(tx)? else {
            return Ok(self.ring.current());
        };
        Ok(self
            .ring
            .key(&own.current)
            .ok_or_else(|| Error::Internal(format!("private key {} missing", own.current)))?)
    }

    /// Signs a message (its type, object and content) for `peer`, and queues it in `tx`.
    pub fn queue(
        &self,
        repos: &Repos,
        tx: &Tx<'_>,
        peer: &str,
        message: (&'static str, ObjectRef, BTreeMap<String, Value>),
        now: Timestamp,
    ) -> TxResult<()> {
        let key = self.current_key_tx(repos, tx)?;
        let to = [peer.to_owned()];
        self.queue_signed(repos, tx, (&to, &to), message, now, (&key, None))
    }

    /// Signs one message for the recipients `to` and queues it for each instance of
    /// `route` (the recipients, or an EPCI that relays it to some of them).
    pub(super) fn queue_to(
        &self,
        repos: &Repos,
        tx: &Tx<'_>,
        (route, to): (&[String], &[String]),
        message: (&'static str, ObjectRef, BTreeMap<String, Value>),
        now: Timestamp,
    ) -> TxResult<()> {
        let key = self.current_key_tx(repos, tx)?;
        self.queue_signed(repos, tx, (route, to), message, now, (&key, None))
    }

    /// Queues for `peer` a message received from its origin, as it was signed (an EPCI
    /// relaying it to its members).
    pub(super) fn pass_on(&self, repos: &Repos, tx: &Tx<'_>, peer: &str, m: &super::message::Message) -> TxResult<()> {
        let message =
            String::from_utf8(m.value.canonical()).map_err(|_| Error::Internal("canonical JSON is UTF-8".into()))?;
        let queued = Queued {
            seq: 0,
            peer: peer.to_owned(),
            id: m.id.clone(),
            kind: m.kind.clone(),
            created_at: m.created_at,
            message,
        };
        enqueue_tx(repos, tx, queued).map(drop)
    }

    /// Queues for each of `route` a message to `to` signed with `key`, and also with
    /// `also` (a key rotation is signed by both the old and the new key).
    pub(super) fn queue_signed(
        &self,
        repos: &Repos,
        tx: &Tx<'_>,
        (route, to): (&[String], &[String]),
        (kind, object, content): (&'static str, ObjectRef, BTreeMap<String, Value>),
        now: Timestamp,
        (key, also): (&SigningKey, Option<&SigningKey>),
    ) -> TxResult<()> {
        let created_at = now.as_millisecond();
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).map_err(|e| Error::Internal(format!("random source: {e}")))?;
        let id = new_id(created_at, random);
        let draft = Draft {
            id: id.clone(),
            kind,
            origin: &self.base_url,
            to,
            created_at,
            object: &object,
            content: Value::Object(content),
        };
        let mut signed = draft.sign(key);
        if let Some(also) = also {
            add_signature(&mut signed, &self.base_url, also, Context::Message);
        }
        let message =
            String::from_utf8(signed.canonical()).map_err(|_| Error::Internal("canonical JSON is UTF-8".into()))?;
        for peer in route {
            let queued = Queued {
                seq: 0,
                peer: peer.clone(),
                id: id.clone(),
                kind: kind.to_owned(),
                created_at,
                message: message.clone(),
            };
            enqueue_tx(repos, tx, queued)?;
        }
        Ok(())
    }
}

/// Builds a message's content from (name, value) pairs.
pub fn content<const N: usize>(fields: [(&str, Value); N]) -> BTreeMap<String, Value> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}
