//! Key rotation (docs/federation.md, section 11): a new key is made and written, then, in
//! one store write, a `key.rotate` signed by both the old and the new key is queued to
//! every active peer and the new key becomes current. Messages queued before keep their
//! old signature and arrive first; a peer pins the new key only from such a message (or a
//! new pairing), and keeps the old one for what was created before the rotation.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use serde::Serialize;

use super::canonical::Value;
use super::keys::{Context, RetiredKey, fingerprint, key_id, public_key, verify};
use super::message::{Message, ObjectRef};
use super::outbox::{content, text};
use super::pairing::Federation;
use super::peer::{Peer, PeerKey, PeerStatus};
use super::shared::Refusal;
use crate::domain::actor::Actor;
use crate::domain::{Error, Result};
use crate::service::permission::{Action, require};
use crate::service::requests::WriteContext;
use crate::store::{Tx, TxResult};

pub const KEY: &str = "key";

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    pub old_key: String,
    pub new_key: String,
    pub fingerprint: String,
    /// Peers the rotation was queued to.
    pub peers: usize,
}

/// The `key.rotate` handing over to `new` (to be signed by the old key and `new`).
pub(super) fn message(new: &SigningKey) -> (&'static str, ObjectRef, BTreeMap<String, Value>) {
    let public = new.verifying_key();
    let id = key_id(&public);
    let encoded = URL_SAFE_NO_PAD.encode(public.as_bytes());
    let body = content([("new_key", Value::Object(content([("id", text(&id)), ("public_key", text(&encoded))])))]);
    ("key.rotate", ObjectRef { kind: KEY.to_owned(), id, version: 1 }, body)
}

impl Federation {
    /// Retires the current key for a new one, and tells every active peer.
    pub async fn rotate_key(&self, actor: &Actor) -> Result<Rotation> {
        require(actor, Action::ManageInstance)?;
        let peers = self.core.repos.peers.peers()?;
        let active: Vec<String> = self.core.repos.peers.active()?.into_iter().map(|p| p.base_url).collect();
        if peers.iter().any(|p| matches!(p.status, PeerStatus::AwaitingOurApproval | PeerStatus::AwaitingTheirApproval))
        {
            return Err(Error::conflict(
                "pairing_pending",
                "a pairing is under way: finish or revoke it before changing the key",
            ));
        }
        let ring = self.core.outbox.ring().clone();
        let new = {
            let ring = ring.clone();
            crate::service::blocking(move || ring.generate()).await?
        };
        let (ctx, actor, now) = (WriteContext::of(&self.core), actor.clone(), self.core.clock.now());
        let new_key = new.clone();
        let (own, told) = self
            .core
            .store
            .write(move |tx| {
                let repos = &ctx.repos;
                let mut own = repos.federation.own_keys_tx(tx)?.unwrap_or_else(|| ring.state());
                let old = ring
                    .key(&own.current)
                    .ok_or_else(|| Error::Internal(format!("private key {} missing", own.current)))?;
                let new_id = key_id(&new_key.verifying_key());
                let mut told = 0;
                for url in &active {
                    if repos.peers.is_active_tx(tx, url)? {
                        let to = [url.clone()];
                        ctx.outbox.queue_signed(
                            repos,
                            tx,
                            (&to, &to),
                            message(&new_key),
                            now,
                            (&old, Some(&new_key)),
                        )?;
                        told += 1;
                    }
                }
                let old_public = URL_SAFE_NO_PAD.encode(old.verifying_key().as_bytes());
                let retired =
                    RetiredKey { id: own.current.clone(), public_key: old_public, retired_at: now.as_millisecond() };
                own.retired.push(retired);
                own.current = new_id.clone();
                repos.federation.put_own_keys(tx, &own)?;
                let details =
                    serde_json::json!({"old_key": own.retired.last().map(|r| &r.id), "new_key": new_id, "peers": told});
                repos.audit.append(tx, now, &actor, "federation.key_rotated", "instance".to_owned(), details)?;
                Ok((own, told))
            })
            .await?;
        let old_key = own.retired.last().map(|r| r.id.clone()).unwrap_or_default();
        self.core.outbox.ring().set_state(own).map_err(Error::Internal)?;
        self.core.outbox.wake.notify_one();
        tracing::info!(old_key = %old_key, new_key = %key_id(&new.verifying_key()), peers = told, "instance key rotated");
        Ok(Rotation {
            old_key,
            new_key: key_id(&new.verifying_key()),
            fingerprint: fingerprint(&new.verifying_key()),
            peers: told,
        })
    }
}

/// Applies a peer's `key.rotate`: signed by a key pinned and current for it, and by the
/// new key; the new key is pinned, the old one retired from the rotation's creation on
/// (it keeps verifying what was created before).
pub fn apply_tx(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    peer: &Peer,
    m: &Message,
    now: Timestamp,
) -> TxResult<std::result::Result<(), Refusal>> {
    if m.kind != "key.rotate" {
        return Ok(Err("unsupported"));
    }
    let new = m.content.get("new_key");
    let field = |name| new.and_then(|n| n.get(name)).and_then(Value::as_str);
    let (Some(id), Some(encoded)) = (field("id"), field("public_key")) else {
        return Ok(Err("invalid_content"));
    };
    let Some(key) = public_key(encoded) else {
        return Ok(Err("invalid_content"));
    };
    if key_id(&key) != id || m.object.id != id {
        return Ok(Err("invalid_content"));
    }
    if verify(&m.origin, &key, Context::Message, &m.value).is_err() {
        return Ok(Err("bad_signature"));
    }
    let repos = &ctx.repos;
    let Some(mut stored) = repos.peers.peer_tx(tx, &peer.base_url)? else {
        return Ok(Err("unknown_peer"));
    };
    if stored.keys.iter().any(|k| k.id == id) {
        return Ok(Ok(()));
    }
    // Only a current key may hand over to a new one.
    let Some(old) = stored.keys.iter_mut().find(|k| k.id == m.key && k.retired_at.is_none()) else {
        return Ok(Err("retired_key"));
    };
    // What the old key signed up to the rotation's creation stays valid.
    old.retired_at = Some(m.created_at + 1);
    stored.keys.push(PeerKey { id: id.to_owned(), public_key: encoded.to_owned(), retired_at: None });
    stored.updated_at = now;
    repos.peers.put_peer(tx, &stored)?;
    let details = serde_json::json!({"old_key": m.key, "new_key": id});
    repos.audit.append(
        tx,
        now,
        &Actor::peer(&peer.base_url),
        "federation.peer_key_rotated",
        format!("peer:{}", peer.base_url),
        details,
    )?;
    Ok(Ok(()))
}
