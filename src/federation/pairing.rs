//! Pairing two instances, as their admins do it (docs/federation.md, section 7):
//!
//! 1. the inviting admin creates an invitation (`invite`): a link with the instance's URL,
//!    its key fingerprint, an id and a 128-bit secret, single use, seven days;
//! 2. the other admin pastes it (`join`): their instance fetches the inviter's key
//!    document, checks the fingerprint exactly, and sends a signed `pair.request` with its
//!    own key document and a proof (HMAC under the secret) binding the invitation and both
//!    keys;
//! 3. the inviter checks everything, pins the joiner's key, and both screens show the same
//!    short code derived from both keys; the inviting admin compares it with the other
//!    admin and approves (`approve`), which sends a signed `pair.accept`.
//!
//! Every step is journaled. A peer is never deleted: revoking it freezes it.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::canonical::Value;
use super::client::Client;
use super::keys::{Context, Instance, add_signature, key_id, public_key, verify};
use super::message::{is_base_url, new_id};
use super::peer::{
    INVITATION_DAYS, Invitation, InvitationLink, Peer, PeerKey, PeerStatus, invitation_link, proof, same_proof,
    short_code,
};
use crate::domain::actor::Actor;
use crate::domain::{Error, Result};
use crate::service::Core;
use crate::service::permission::{Action, require};

/// The largest key document or pairing message read.
const MAX_BYTES: usize = 64 * 1024;

/// What a pairing step tells the admin who made it.
#[derive(Debug, Clone, Serialize)]
pub struct PairingView {
    pub base_url: String,
    pub name: String,
    pub kind: String,
    pub code: String,
    pub status: &'static str,
    pub short_code: String,
    /// Known through this EPCI's roster, not paired directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vouched_by: Option<String>,
    /// At an EPCI: one of its members.
    pub member: bool,
}

impl From<&Peer> for PairingView {
    fn from(p: &Peer) -> Self {
        PairingView {
            base_url: p.base_url.clone(),
            name: p.name.clone(),
            kind: p.kind.clone(),
            code: p.code.clone(),
            status: p.status.as_str(),
            short_code: p.short_code.clone(),
            vouched_by: p.vouched_by.clone(),
            member: p.member,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuedInvitation {
    pub link: String,
    pub fingerprint: String,
    pub expires_at: Timestamp,
}

/// Federation as the rest of the server uses it.
pub struct Federation {
    pub(super) core: Arc<Core>,
    pub(super) instance: Instance,
    pub(super) client: Client,
    /// First wait after a failed delivery (doubled at each failure, up to an hour).
    pub(super) retry_base: std::time::Duration,
    /// Admins are told when a peer has been unreachable this long.
    pub(super) alert_after_hours: u32,
    /// Deliveries being applied, by peer.
    pub(super) in_flight: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl Federation {
    pub fn new(
        core: Arc<Core>,
        instance: Instance,
        allow_private_addresses: bool,
        (retry_base, alert_after_hours): (std::time::Duration, u32),
    ) -> Result<Federation> {
        let client =
            Client::new(allow_private_addresses).map_err(|e| Error::Internal(format!("federation client: {e}")))?;
        Ok(Federation { core, instance, client, retry_base, alert_after_hours, in_flight: Default::default() })
    }

    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    pub(super) fn me(&self) -> &str {
        &self.instance.identity.base_url
    }

    pub fn peers(&self, actor: &Actor) -> Result<Vec<PairingView>> {
        require(actor, Action::ManageInstance)?;
        Ok(self.core.repos.peers.peers()?.iter().map(PairingView::from).collect())
    }

    /// Step 1: a new invitation.
    pub async fn invite(&self, actor: &Actor) -> Result<IssuedInvitation> {
        require(actor, Action::ManageInstance)?;
        let mut id = [0u8; 16];
        let mut secret = [0u8; 16];
        for bytes in [&mut id[..], &mut secret[..]] {
            getrandom::fill(bytes).map_err(|e| Error::Internal(format!("random source: {e}")))?;
        }
        let now = self.core.clock.now();
        let invitation = Invitation {
            id: crate::domain::audit::hex(&id),
            secret: URL_SAFE_NO_PAD.encode(secret),
            created_at: now,
            expires_at: now + SignedDuration::from_hours(24 * INVITATION_DAYS),
            used_by: None,
            created_by: actor.id.clone(),
        };
        let fingerprint = self.instance.fingerprint_hex();
        let link = invitation_link(self.me(), &invitation.id, &invitation.secret, &fingerprint);
        let (repos, actor, stored) = (self.core.repos.clone(), actor.clone(), invitation.clone());
        self.core
            .store
            .write(move |tx| {
                repos.peers.put_invitation(tx, &stored)?;
                let details = serde_json::json!({"invitation": stored.id, "expires_at": stored.expires_at});
                repos.audit.append(
                    tx,
                    now,
                    &actor,
                    "federation.invite",
                    format!("invitation:{}", stored.id),
                    details,
                )?;
                Ok(())
            })
            .await?;
        Ok(IssuedInvitation { link, fingerprint: self.instance.fingerprint(), expires_at: invitation.expires_at })
    }

    /// Step 2: joins the instance that made the invitation `link`.
    pub async fn join(&self, actor: &Actor, link: &str) -> Result<PairingView> {
        require(actor, Action::ManageInstance)?;
        let link = InvitationLink::parse(link)
            .ok_or_else(|| Error::invalid("invalid_invitation", "link", "not a pairing invitation link"))?;
        if link.base_url == self.me() {
            return Err(Error::invalid("invalid_invitation", "link", "this is this instance's own invitation"));
        }
        let document = self.fetch(&format!("{}/.well-known/guichet/keys", link.base_url)).await?;
        let (inviter, inviter_key) = checked_document(&document, &link.base_url)?;
        if crate::domain::audit::hex(&Sha256::digest(inviter_key.as_bytes())) != link.fingerprint.to_ascii_lowercase() {
            return Err(Error::invalid(
                "fingerprint_mismatch",
                "link",
                "the instance at this address does not have the key of the invitation",
            ));
        }
        let mine = self.instance.key_document(self.core.clock.now().as_millisecond());
        let my_key = URL_SAFE_NO_PAD.encode(self.instance.verifying_key().as_bytes());
        let content = Value::Object(BTreeMap::from([
            ("key_document".to_owned(), mine),
            ("proof".to_owned(), Value::String(proof(&link.secret, &link.id, &public_b64(&inviter_key), &my_key))),
        ]));
        let request = self.pairing_message("pair.request", &link.base_url, &link.id, content)?;
        let response = self
            .client
            .request(reqwest::Method::POST, &format!("{}/federation/v1/pair", link.base_url))
            .map_err(|e| Error::Unavailable(e.to_string()))?
            .header("content-type", "application/json")
            .body(request.canonical())
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("{}: {}", link.base_url, e.without_url())))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(Error::conflict(
                "pairing_refused",
                format!("{} refused the pairing ({status}): {body}", link.base_url),
            ));
        }
        let now = self.core.clock.now();
        let peer = Peer {
            short_code: short_code(inviter_key.as_bytes(), self.instance.verifying_key().as_bytes()),
            status: PeerStatus::AwaitingTheirApproval,
            invited_by_us: false,
            created_at: now,
            updated_at: now,
            ..inviter
        };
        self.store_peer(actor, peer.clone(), "federation.join").await?;
        Ok(PairingView::from(&peer))
    }

    /// Step 3 at the inviter, and the last step at the joiner: a pairing message received.
    /// Answers what the sender's admin is shown.
    pub async fn receive(&self, bytes: &[u8]) -> Result<serde_json::Value> {
        let refused = || Error::invalid("invalid_pairing", "message", "this pairing message is not valid");
        if bytes.len() > MAX_BYTES {
            return Err(Error::TooLarge { message: "pairing messages are small".into() });
        }
        let message = Value::parse(bytes).map_err(|_| refused())?;
        let origin = message.get("origin").and_then(Value::as_str).ok_or_else(refused)?.to_owned();
        let to_me =
            matches!(message.get("to"), Some(Value::Array(to)) if to.iter().any(|t| t.as_str() == Some(self.me())));
        if !to_me || message.get("v") != Some(&Value::Int(1)) {
            return Err(refused());
        }
        match message.get("type").and_then(Value::as_str) {
            Some("pair.request") => self.receive_request(&message, origin).await,
            Some("pair.accept") => self.receive_accept(&message, origin).await,
            _ => Err(refused()),
        }
    }

    async fn receive_request(&self, message: &Value, origin: String) -> Result<serde_json::Value> {
        // Every refusal is the same 403: nothing to learn about invitations or peers.
        let refused = || Error::Forbidden;
        if !is_base_url(&origin) || origin == self.me() {
            return Err(refused());
        }
        let content = message.get("content").ok_or_else(refused)?;
        let document = content.get("key_document").ok_or_else(refused)?;
        let (joiner, joiner_key) = checked_document(document, &origin).map_err(|_| refused())?;
        verify(&origin, &joiner_key, Context::Pairing, message).map_err(|_| refused())?;
        let invitation = message.get("object").and_then(|o| o.get("id")).and_then(Value::as_str).ok_or_else(refused)?;
        let given = content.get("proof").and_then(Value::as_str).ok_or_else(refused)?.to_owned();
        let my_key = public_b64(&self.instance.verifying_key());
        let valid_proof = move |stored: &Invitation, now: Timestamp| {
            stored.used_by.is_none()
                && now < stored.expires_at
                && same_proof(&proof(&stored.secret, &stored.id, &my_key, &public_b64(&joiner_key)), &given)
        };
        // The proof first (no network call for whoever does not hold an invitation), then
        // the joiner must own its address: the key document served there has the same key.
        let stored = self.core.repos.peers.invitation(invitation)?.ok_or_else(refused)?;
        if !valid_proof(&stored, self.core.clock.now()) {
            return Err(refused());
        }
        let served = self.fetch(&format!("{origin}/.well-known/guichet/keys")).await.map_err(|_| refused())?;
        match checked_document(&served, &origin) {
            Ok((_, key)) if key == joiner_key => {}
            _ => return Err(refused()),
        }
        let (invitation, now) = (invitation.to_owned(), self.core.clock.now());
        let code = short_code(self.instance.verifying_key().as_bytes(), joiner_key.as_bytes());
        let peer =
            Peer { short_code: code.clone(), status: PeerStatus::AwaitingOurApproval, invited_by_us: true, ..joiner };
        let (repos, system) = (self.core.repos.clone(), Actor::system("federation"));
        self.core
            .store
            .write(move |tx| {
                let Some(mut stored) = repos.peers.invitation_tx(tx, &invitation)? else {
                    return Err(refused().into());
                };
                if !valid_proof(&stored, now) {
                    return Err(refused().into());
                }
                // A new pairing replaces a revoked peer (its keys kept, retired); an active
                // peer, or one awaiting approval with another key, is not replaced.
                let mut new = Peer { created_at: now, updated_at: now, ..peer.clone() };
                match repos.peers.peer_tx(tx, &new.base_url)? {
                    None => {}
                    Some(old) if old.status == PeerStatus::Revoked => {
                        let current = new.keys[0].public_key.clone();
                        let retired = old.keys.into_iter().filter(|k| k.public_key != current);
                        new.keys.extend(
                            retired.map(|k| PeerKey { retired_at: k.retired_at.or(Some(now.as_millisecond())), ..k }),
                        );
                        new.created_at = old.created_at;
                    }
                    Some(old) if old.status == PeerStatus::AwaitingOurApproval && old.keys == new.keys => {}
                    Some(_) => return Err(refused().into()),
                }
                stored.used_by = Some(new.base_url.clone());
                stored.secret = String::new();
                repos.peers.put_invitation(tx, &stored)?;
                repos.peers.put_peer(tx, &new)?;
                let details =
                    serde_json::json!({"invitation": stored.id, "name": new.name, "short_code": new.short_code});
                repos.audit.append(
                    tx,
                    now,
                    &system,
                    "federation.pair_request",
                    format!("peer:{}", new.base_url),
                    details,
                )?;
                Ok(())
            })
            .await?;
        Ok(serde_json::json!({"status": "awaiting_approval", "short_code": code}))
    }

    async fn receive_accept(&self, message: &Value, origin: String) -> Result<serde_json::Value> {
        let peer = self.core.repos.peers.peer(&origin)?.ok_or(Error::Forbidden)?;
        let pinned = peer.keys.iter().filter(|k| k.retired_at.is_none()).find_map(|k| public_key(&k.public_key));
        let key = pinned.ok_or(Error::Forbidden)?;
        verify(&origin, &key, Context::Pairing, message).map_err(|_| Error::Forbidden)?;
        let keys = peer.keys.clone();
        let changed = self
            .change_peer(&Actor::system("federation"), &origin, "federation.paired", move |p| {
                (p.status == PeerStatus::AwaitingTheirApproval && p.keys == keys).then_some(PeerStatus::Active)
            })
            .await?;
        // Not changed: fine only when told twice (an approval sent again).
        if changed.is_none() && !self.core.repos.peers.peer(&origin)?.is_some_and(|p| p.status == PeerStatus::Active) {
            return Err(Error::Forbidden);
        }
        Ok(serde_json::json!({"status": "active"}))
    }

    /// The inviting admin approves, having compared `short_code` with the other admin: the
    /// joiner is told with a signed `pair.accept`, and the peer becomes active once it has
    /// answered. Returns the peer, and whether it was told (if not, it stays awaiting and
    /// approving again tells it).
    pub async fn approve(&self, actor: &Actor, base_url: &str, short_code: &str) -> Result<(PairingView, bool)> {
        require(actor, Action::ManageInstance)?;
        let peer = self.core.repos.peers.peer(base_url)?.ok_or(Error::not_found("peer"))?;
        let awaiting = peer.status == PeerStatus::AwaitingOurApproval;
        if !(awaiting || (peer.status == PeerStatus::Active && peer.invited_by_us)) {
            return Err(Error::conflict("not_awaiting_approval", "this peer is not awaiting our approval"));
        }
        let normalized = |c: &str| c.chars().filter(char::is_ascii_digit).collect::<String>();
        if normalized(short_code) != normalized(&peer.short_code) {
            return Err(Error::conflict("short_code_mismatch", "this is not the code of this pairing"));
        }
        let accept = self.pairing_message("pair.accept", &peer.base_url, "accept", Value::Object(BTreeMap::new()))?;
        let told = match self.client.request(reqwest::Method::POST, &format!("{}/federation/v1/pair", peer.base_url)) {
            Ok(request) => request
                .header("content-type", "application/json")
                .body(accept.canonical())
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
            Err(_) => false,
        };
        if !told {
            return Ok((PairingView::from(&peer), false));
        }
        let keys = peer.keys.clone();
        let changed = self
            .change_peer(actor, base_url, "federation.approve", move |p| {
                (p.status == PeerStatus::AwaitingOurApproval && p.keys == keys).then_some(PeerStatus::Active)
            })
            .await?;
        Ok((PairingView::from(&changed.unwrap_or(peer)), true))
    }

    /// Freezes a peer: nothing more is sent to it or accepted from it; nothing is deleted.
    pub async fn revoke(&self, actor: &Actor, base_url: &str) -> Result<PairingView> {
        require(actor, Action::ManageInstance)?;
        let changed = self
            .change_peer(actor, base_url, "federation.revoke", |p| {
                (p.status != PeerStatus::Revoked).then_some(PeerStatus::Revoked)
            })
            .await?;
        let peer = self.core.repos.peers.peer(base_url)?.ok_or(Error::not_found("peer"))?;
        Ok(PairingView::from(&changed.unwrap_or(peer)))
    }

    /// At an EPCI: lists a peer among its members, or not. Members get the roster again;
    /// one that stops being a member is told (`roster.remove`) and stops trusting the
    /// others through it.
    pub async fn set_member(&self, actor: &Actor, base_url: &str, member: bool) -> Result<PairingView> {
        require(actor, Action::ManageInstance)?;
        if self.instance.identity.kind != "epci" {
            return Err(Error::conflict("not_an_epci", "only an EPCI has members"));
        }
        let (repos, actor, now, url) =
            (self.core.repos.clone(), actor.clone(), self.core.clock.now(), base_url.to_owned());
        let (outbox, inputs) = (self.core.outbox.clone(), super::roster::inputs(&self.core.repos)?);
        let changed = self
            .core
            .store
            .write(move |tx| {
                let peer = repos.peers.peer_tx(tx, &url)?.ok_or(Error::not_found("peer"))?;
                if peer.member == member {
                    return Ok(peer);
                }
                if peer.status != PeerStatus::Active || peer.vouched_by.is_some() {
                    return Err(Error::conflict("not_active", "only an active peer paired here can be a member").into());
                }
                let changed = Peer { member, updated_at: now, ..peer };
                repos.peers.put_peer(tx, &changed)?;
                let left = (!member).then_some(url.as_str());
                super::roster::changed_tx(&outbox, &repos, tx, (&inputs.0, &inputs.1), left, now)?;
                let action = if member { "federation.member_add" } else { "federation.member_remove" };
                let details = serde_json::json!({"name": changed.name});
                repos.audit.append(tx, now, &actor, action, format!("peer:{url}"), details)?;
                Ok(changed)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(PairingView::from(&changed))
    }

    /// Changes a peer's status inside one write, from the peer as stored then: `next`
    /// answers the new status, or `None` to leave it. Returns the changed peer, if any.
    async fn change_peer(
        &self,
        actor: &Actor,
        base_url: &str,
        action: &'static str,
        next: impl Fn(&Peer) -> Option<PeerStatus> + Send + 'static,
    ) -> Result<Option<Peer>> {
        let (repos, actor, now, url) =
            (self.core.repos.clone(), actor.clone(), self.core.clock.now(), base_url.to_owned());
        // A peer that becomes active receives the events of the agendas shared from here;
        // at an EPCI, a commune becomes a member, and the members get the roster.
        let (outbox, shared) = (self.core.outbox.clone(), super::agendas::shared_here(&self.core.repos)?);
        let epci = self.instance.identity.kind == "epci";
        let inputs = if epci { super::roster::inputs(&self.core.repos)? } else { Default::default() };
        self.core
            .store
            .write(move |tx| {
                let peer = repos.peers.peer_tx(tx, &url)?.ok_or(Error::not_found("peer"))?;
                let Some(status) = next(&peer) else { return Ok(None) };
                let activated = status == PeerStatus::Active && peer.status != PeerStatus::Active;
                // Revoked by hand: no roster brings it back.
                let vouched_by = if status == PeerStatus::Revoked { None } else { peer.vouched_by.clone() };
                let member = peer.member || (activated && epci && peer.kind == "commune");
                let was_member = peer.member && peer.status == PeerStatus::Active;
                let changed = Peer { status, updated_at: now, vouched_by, member, ..peer };
                repos.peers.put_peer(tx, &changed)?;
                if activated {
                    super::agendas::share_all_tx(&outbox, &repos, tx, (std::slice::from_ref(&url), &shared), now)?;
                }
                if epci && (was_member || changed.member) {
                    super::roster::changed_tx(&outbox, &repos, tx, (&inputs.0, &inputs.1), None, now)?;
                }
                let details = serde_json::json!({"name": changed.name, "status": changed.status.as_str()});
                repos.audit.append(tx, now, &actor, action, format!("peer:{url}"), details)?;
                Ok(Some(changed))
            })
            .await
    }

    async fn store_peer(&self, actor: &Actor, peer: Peer, action: &'static str) -> Result<()> {
        let (repos, actor, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                repos.peers.put_peer(tx, &peer)?;
                let details = serde_json::json!({"name": peer.name, "status": peer.status.as_str()});
                repos.audit.append(tx, now, &actor, action, format!("peer:{}", peer.base_url), details)?;
                Ok(())
            })
            .await
    }

    fn pairing_message(&self, kind: &str, to: &str, object_id: &str, content: Value) -> Result<Value> {
        let now = self.core.clock.now().as_millisecond();
        let mut random = [0u8; 10];
        getrandom::fill(&mut random).map_err(|e| Error::Internal(format!("random source: {e}")))?;
        let key = self.instance.signing_key();
        Ok(pairing_message((self.me(), &key), (kind, to, object_id, content), (now, random)))
    }

    async fn fetch(&self, url: &str) -> Result<Value> {
        let unreachable = |e: String| Error::Unavailable(format!("{url}: {e}"));
        let response = self
            .client
            .request(reqwest::Method::GET, url)
            .map_err(|e| unreachable(e.to_string()))?
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("answered {}", response.status())));
        }
        let bytes = read_limited(response, MAX_BYTES).await.map_err(unreachable)?;
        Value::parse(&bytes).map_err(|e| Error::invalid("invalid_key_document", "link", e.to_string()))
    }
}

/// A pairing message (`pair.request`, `pair.accept`) of `origin` for `to` about the
/// invitation `object_id`, created at `now` (ms) with an id from `random`, signed by `key`
/// for pairing (`guichet/v1/pair\0`).
pub(super) fn pairing_message(
    (origin, key): (&str, &ed25519_dalek::SigningKey),
    (kind, to, object_id, content): (&str, &str, &str, Value),
    (now, random): (i64, [u8; 10]),
) -> Value {
    let s = |v: &str| Value::String(v.to_owned());
    let object = BTreeMap::from([
        ("kind".to_owned(), s("pairing")),
        ("id".to_owned(), s(object_id)),
        ("version".to_owned(), Value::Int(1)),
    ]);
    let mut message = Value::Object(BTreeMap::from([
        ("v".to_owned(), Value::Int(1)),
        ("id".to_owned(), s(&new_id(now, random))),
        ("type".to_owned(), s(kind)),
        ("origin".to_owned(), s(origin)),
        ("key".to_owned(), s(&key_id(&key.verifying_key()))),
        ("to".to_owned(), Value::Array(vec![s(to)])),
        ("created_at".to_owned(), Value::Int(now)),
        ("object".to_owned(), Value::Object(object)),
        ("content".to_owned(), content),
    ]));
    add_signature(&mut message, origin, key, Context::Pairing);
    message
}

/// A response's body, refused beyond `max` bytes (read as it comes: a peer cannot make
/// this server hold more than that).
pub(super) async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("more than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url().to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("more than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn public_b64(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// A key document that says it is `base_url`'s, has one current key, and is signed by it:
/// the peer it describes (status and dates to be set), and that key.
fn checked_document(document: &Value, base_url: &str) -> Result<(Peer, VerifyingKey)> {
    let invalid = |why: &str| Error::invalid("invalid_key_document", "key_document", why.to_owned());
    let field = |name: &str| document.get(name).and_then(Value::as_str).map(str::to_owned);
    if field("base_url").as_deref() != Some(base_url) || document.get("v") != Some(&Value::Int(1)) {
        return Err(invalid("not the key document of this address"));
    }
    let keys = match document.get("keys") {
        Some(Value::Object(keys)) if keys.len() == 1 => keys,
        _ => return Err(invalid("one current key expected")),
    };
    let (id, entry) = keys.iter().next().ok_or_else(|| invalid("no key"))?;
    let encoded = entry.get("public_key").and_then(Value::as_str).ok_or_else(|| invalid("no public key"))?;
    let key = public_key(encoded).ok_or_else(|| invalid("malformed public key"))?;
    if key_id(&key) != *id {
        return Err(invalid("key id does not match the key"));
    }
    verify(base_url, &key, Context::Keys, document).map_err(|_| invalid("not signed by its key"))?;
    let peer = Peer {
        base_url: base_url.to_owned(),
        name: field("name").unwrap_or_default().chars().take(200).collect(),
        kind: field("kind").unwrap_or_default().chars().take(20).collect(),
        code: field("code").unwrap_or_default().chars().take(20).collect(),
        keys: vec![PeerKey { id: id.clone(), public_key: encoded.to_owned(), retired_at: None }],
        status: PeerStatus::Revoked,
        short_code: String::new(),
        invited_by_us: false,
        created_at: Timestamp::UNIX_EPOCH,
        updated_at: Timestamp::UNIX_EPOCH,
        key_document: String::from_utf8_lossy(&document.canonical()).into_owned(),
        vouched_by: None,
        member: false,
    };
    Ok((peer, key))
}

/// Keeps `SigningKey` use inside `Instance`.
impl Instance {
    pub(crate) fn verifying_key(&self) -> VerifyingKey {
        self.signing_key().verifying_key()
    }

    fn fingerprint_hex(&self) -> String {
        crate::domain::audit::hex(&Sha256::digest(self.verifying_key().as_bytes()))
    }
}

#[cfg(test)]
mod tests;
