//! What admins see and do of federation beyond pairing: delivery to each peer, "retry
//! now", the competence table, forwarding a request by hand, and the hash of what two
//! instances share.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::canonical::Value;
use super::pairing::Federation;
use super::peer::{Peer, PeerStatus};
use super::records::{LinkState, Side};
use super::shared;
use crate::domain::actor::Actor;
use crate::domain::status::Status;
use crate::domain::{Error, Result};
use crate::service::permission::{Action, require};
use crate::service::requests::WriteContext;

/// Where delivery to one peer stands, for its admin page.
#[derive(Debug, Clone, Serialize)]
pub struct PeerDelivery {
    pub base_url: String,
    pub name: String,
    pub status: &'static str,
    pub queued: usize,
    pub oldest_at: Option<Timestamp>,
    pub last_success_at: Option<Timestamp>,
    pub unreachable_since: Option<Timestamp>,
    pub failures: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: String,
    pub delivered: u64,
    pub dead_letters: Vec<DeadLetterView>,
    /// Files of requests it forwarded here, still to fetch from it.
    pub files_waiting: Vec<WaitingFile>,
}

/// A file of a forwarded request not fetched yet.
#[derive(Debug, Clone, Serialize)]
pub struct WaitingFile {
    pub request: u64,
    pub name: String,
    pub size: u64,
    pub attempts: u32,
    pub next_at: Option<Timestamp>,
    pub last_error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    pub id: String,
    pub kind: String,
    pub code: String,
    pub at: Option<Timestamp>,
}

pub(super) fn instant(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

impl Federation {
    /// Delivery to every peer, for the admin page.
    pub fn deliveries(&self, actor: &Actor) -> Result<Vec<PeerDelivery>> {
        require(actor, Action::ManageInstance)?;
        let repos = &self.core.repos;
        let wanted = repos.federation.wanted()?;
        let mut out = Vec::new();
        for peer in repos.peers.peers()? {
            let files_waiting = wanted
                .iter()
                .filter(|w| w.peer == peer.base_url)
                .map(|w| WaitingFile {
                    request: w.request,
                    name: w.name.clone(),
                    size: w.size,
                    attempts: w.attempts,
                    next_at: (w.attempts > 0).then_some(w.next_at).and_then(instant),
                    last_error: w.last_error.clone(),
                })
                .collect();
            let state = repos.federation.delivery(&peer.base_url)?;
            let (queued, oldest) = repos.federation.depth(&peer.base_url)?;
            let dead_letters = repos
                .federation
                .dead_letters(&peer.base_url)?
                .into_iter()
                .map(|d| DeadLetterView { id: d.queued.id, kind: d.queued.kind, code: d.code, at: instant(d.at) })
                .collect();
            out.push(PeerDelivery {
                base_url: peer.base_url.clone(),
                name: peer.name.clone(),
                status: peer.status.as_str(),
                queued,
                oldest_at: oldest.and_then(instant),
                last_success_at: state.last_success_at.and_then(instant),
                unreachable_since: state.unreachable_since.and_then(instant),
                failures: state.failures,
                next_attempt_at: (state.next_attempt_at > 0).then_some(state.next_attempt_at).and_then(instant),
                last_error: state.last_error,
                delivered: state.delivered,
                dead_letters,
                files_waiting,
            });
        }
        Ok(out)
    }

    /// An admin's "retry now": the peer's backoff is forgotten and its sender woken.
    pub async fn retry_now(&self, actor: &Actor, base_url: &str) -> Result<()> {
        require(actor, Action::ManageInstance)?;
        if self.core.repos.peers.peer(base_url)?.is_none() {
            return Err(Error::not_found("peer"));
        }
        let (repos, actor, now, peer) =
            (self.core.repos.clone(), actor.clone(), self.core.clock.now(), base_url.to_owned());
        self.core
            .store
            .write(move |tx| {
                let mut state = repos.federation.delivery_tx(tx, &peer)?;
                state.next_attempt_at = 0;
                repos.federation.put_delivery(tx, &state)?;
                let details = serde_json::json!({"peer": peer});
                repos.audit.append(tx, now, &actor, "federation.retry", format!("peer:{peer}"), details)?;
                Ok(())
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(())
    }

    /// Queues again a message `peer` refused, once what made it refuse is mended: the same
    /// signed message (the peer never keeps the id of one it refused), at the end of the
    /// queue. Refused again, it is a dead letter again.
    pub async fn resend(&self, actor: &Actor, base_url: &str, id: &str) -> Result<()> {
        require(actor, Action::ManageInstance)?;
        let seq = self.core.repos.federation.dead_letters(base_url)?.into_iter().find(|d| d.queued.id == id);
        let seq = seq.ok_or_else(|| Error::not_found("dead_letter"))?.queued.seq;
        let (repos, actor, now, peer) =
            (self.core.repos.clone(), actor.clone(), self.core.clock.now(), base_url.to_owned());
        self.core
            .store
            .write(move |tx| {
                let dead =
                    repos.federation.take_dead_tx(tx, &peer, seq)?.ok_or_else(|| Error::not_found("dead_letter"))?;
                let queued = super::outbox::enqueue_tx(&repos, tx, dead.queued)?;
                let mut state = repos.federation.delivery_tx(tx, &peer)?;
                state.next_attempt_at = 0;
                repos.federation.put_delivery(tx, &state)?;
                let details =
                    serde_json::json!({"peer": peer, "message": queued.id, "type": queued.kind, "refused": dead.code});
                repos.audit.append(tx, now, &actor, "federation.resend", format!("peer:{peer}"), details)?;
                Ok(())
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(())
    }
}

impl Federation {
    /// The competence table: who holds which category, for which commune.
    pub fn competences(&self, actor: &Actor) -> Result<Vec<super::records::Competence>> {
        require(actor, Action::ManageInstance)?;
        self.core.repos.federation.competences()
    }

    /// Says that `peer` holds `category` for the commune `insee` (empty: for every commune
    /// without its own line); an empty `peer` gives the competence back to this instance.
    pub async fn set_competence(&self, actor: &Actor, category: &str, insee: &str, peer: &str) -> Result<()> {
        require(actor, Action::ManageInstance)?;
        let (category, insee, peer) = (category.trim().to_owned(), insee.trim().to_owned(), peer.trim().to_owned());
        if self.core.repos.catalogue.category(&category)?.is_none() {
            return Err(Error::invalid("unknown_category", "category", "no such category"));
        }
        if !insee.is_empty() && !crate::domain::request::is_insee_code(&insee) {
            return Err(Error::invalid(
                "invalid_insee_code",
                "insee",
                "an INSEE code has 5 characters (2A/2B for Corsica)",
            ));
        }
        if !peer.is_empty() && self.core.repos.peers.peer(&peer)?.is_none_or(|p| p.status == PeerStatus::Revoked) {
            return Err(Error::invalid("unknown_peer", "peer", "no such paired instance"));
        }
        let (repos, actor, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                if peer.is_empty() {
                    repos.federation.remove_competence(tx, &category, &insee)?;
                } else {
                    let c = super::records::Competence {
                        category: category.clone(),
                        insee: insee.clone(),
                        peer: peer.clone(),
                    };
                    repos.federation.put_competence(tx, &c)?;
                }
                let details = serde_json::json!({"category": category, "insee": insee, "peer": peer});
                repos.audit.append(
                    tx,
                    now,
                    &actor,
                    "federation.competence",
                    format!("category:{category}"),
                    details,
                )?;
                Ok(())
            })
            .await
    }

    /// An agent forwards a request to the paired collectivité that holds the competence;
    /// a request forwarded here is handed on through its origin (`reason`: why).
    pub async fn forward(
        &self,
        actor: &Actor,
        id: u64,
        (peer, reason): (&str, &str),
    ) -> Result<crate::domain::request::Request> {
        require(actor, Action::WorkRequests)?;
        let (ctx, actor, now, peer) =
            (WriteContext::of(&self.core), actor.clone(), self.core.clock.now(), peer.to_owned());
        let reason = reason.chars().take(2000).collect::<String>();
        let outbox = self.core.outbox.clone();
        let forwarded = self
            .core
            .store
            .write(move |tx| {
                let old = ctx.repos.requests.get_tx(tx, id)?;
                crate::service::permission::require_request(&actor, Action::WorkRequests, id, &old.department)?;
                if !old.status.is_open() {
                    return Err(Error::conflict("request_finished", "only an open request can be forwarded").into());
                }
                let Some(peer) = ctx.repos.peers.peer_tx(tx, &peer)? else {
                    return Err(Error::invalid("unknown_peer", "peer", "no such paired instance").into());
                };
                let commit = crate::service::requests::commit_change_tx;
                let held =
                    ctx.repos.federation.link_tx(tx, id)?.is_some_and(|l| l.side == Side::Holder && l.state.is_live());
                if !held {
                    let change = shared::forward_tx(&outbox, &ctx.repos, tx, &old, &peer, now)?;
                    return commit(&ctx, tx, &actor, "request.forward", &old, old.clone(), change, now);
                }
                // Forwarded here by its origin: handed on through the origin, and closed here.
                let change = shared::transfer_tx(&outbox, &ctx.repos, tx, (&old, &peer, &reason), now)?;
                let sent = commit(&ctx, tx, &actor, "request.transfer", &old, old.clone(), change, now)?;
                let mut closed = sent.clone();
                let change = closed.follow_status(Status::Closed, None, now, &ctx.settings.calendar);
                commit(&ctx, tx, &actor, "request.transfer", &sent, closed, change, now)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(forwarded)
    }

    /// Takes back a request forwarded to a peer (the citizen gave it up, or it was sent
    /// to the wrong collectivité): the peer closes its copy, and it is handled here again.
    pub async fn withdraw(&self, actor: &Actor, id: u64, reason: &str) -> Result<crate::domain::request::Request> {
        require(actor, Action::WorkRequests)?;
        let (ctx, actor, now) = (WriteContext::of(&self.core), actor.clone(), self.core.clock.now());
        let (reason, name) = (reason.chars().take(2000).collect::<String>(), self.instance.identity.name.clone());
        let withdrawn = self
            .core
            .store
            .write(move |tx| {
                let old = ctx.repos.requests.get_tx(tx, id)?;
                crate::service::permission::require_request(&actor, Action::WorkRequests, id, &old.department)?;
                let change = shared::withdraw_tx(&ctx.outbox, &ctx.repos, tx, (&old, &reason), &name, now)?;
                let new = old.clone();
                crate::service::requests::commit_change_tx(&ctx, tx, &actor, "request.withdraw", &old, new, change, now)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(withdrawn)
    }

    /// The link of a request with a peer, if it was forwarded or came from one.
    pub fn link(&self, id: u64) -> Result<Option<super::records::Link>> {
        self.core.repos.federation.link(id)
    }

    /// The rosters EPCIs sent this instance.
    pub fn rosters(&self, actor: &Actor) -> Result<Vec<super::records::Roster>> {
        require(actor, Action::ManageInstance)?;
        self.core.repos.federation.rosters()
    }

    /// Active peers, to offer as destinations.
    pub fn active_peers(&self) -> Result<Vec<Peer>> {
        self.core.repos.peers.active()
    }
}

impl Federation {
    /// What this instance holds of what it shares with `peer`, hashed: the same on both
    /// sides once every message has arrived (each shared request's status and its public
    /// replies by either collectivité; the live events of the agendas shared either way,
    /// with their versions; the topics both take part in, with their posts; the EPCI's
    /// roster). Tests compare it to see instances converge.
    pub fn shared_state(&self, actor: &Actor, peer: &str) -> Result<serde_json::Value> {
        require(actor, Action::ManageInstance)?;
        let repos = &self.core.repos;
        let mut objects = BTreeMap::new();
        // A request handed on elsewhere is shared with the new holder, not with this peer.
        let shared = |l: &super::records::Link| l.peer == peer && l.state != LinkState::Transferred;
        for link in repos.federation.links()?.into_iter().filter(shared) {
            let Some(request) = repos.requests.get(link.request)? else { continue };
            let mut replies: Vec<Value> = repos
                .requests
                .events(link.request)?
                .into_iter()
                .filter(|e| e.actor.kind == crate::domain::actor::ActorKind::Agent || e.actor.is_peer())
                .filter_map(|e| match e.change {
                    crate::domain::request::Change::Comment {
                        visibility: crate::domain::request::Visibility::Public,
                        body,
                    } => Some(Value::String(body)),
                    _ => None,
                })
                .collect();
            replies.sort_by_key(Value::canonical);
            let origin = match link.side {
                Side::Origin => self.me(),
                Side::Holder => peer,
            };
            let state = Value::Object(BTreeMap::from([
                ("link".to_owned(), Value::String(link.state.as_str().to_owned())),
                // Once sent back or taken back, each side handles its own copy.
                (
                    "status".to_owned(),
                    if link.state.is_live() { Value::String(request.status.as_str().to_owned()) } else { Value::Null },
                ),
                ("replies".to_owned(), Value::Array(replies)),
            ]));
            objects.insert(format!("{origin}#{}", link.object), state);
        }
        // The live events of the agendas shared either way, by owner and version.
        for (owner, id, version) in super::agendas::shared_events(repos, self.me(), peer)? {
            objects.insert(format!("event:{owner}#{id}"), Value::Int(i64::try_from(version).unwrap_or(i64::MAX)));
        }
        // The topics both take part in, with their posts.
        for (key, topic) in super::topics::shared_topics(repos, self.me(), peer)? {
            objects.insert(format!("topic:{key}"), topic);
        }
        // The roster: the one this EPCI sends the peer, or the one the peer sent here.
        if let Some(roster) = super::roster::shared_roster(repos, peer)? {
            objects.insert("roster".to_owned(), roster);
        }
        let count = objects.len();
        let hash = crate::domain::audit::hex(&Sha256::digest(Value::Object(objects).canonical()));
        Ok(serde_json::json!({"peer": peer, "objects": count, "hash": hash}))
    }
}
