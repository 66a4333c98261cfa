//! The send endpoint (docs/federation.md, section 6): a delivery's checks, cheapest first,
//! and the one durable write that applies its new messages and answers for each.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::auth::{AuthError, Authorization};
use super::canonical::Value;
use super::delivery::{MAX_BATCH, MAX_BATCH_BYTES};
use super::message::Message;
use super::pairing::Federation;
use super::peer::{Peer, PeerStatus};
use super::records::Received;
use super::{agendas, roster, rotation, shared, topics};
use crate::domain::Error;
use crate::domain::agenda::{Agenda, Event};
use crate::service::requests::WriteContext;
use crate::store::TxError;

/// Why a delivery was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{1}")]
    Batch(&'static str, &'static str),
    /// The peer already has deliveries being applied: one peer's flood does not hold up
    /// the others.
    #[error("busy")]
    Busy,
    #[error(transparent)]
    Store(#[from] Error),
}

/// Deliveries being applied for one peer, released when dropped.
struct InFlight<'a> {
    table: &'a std::sync::Mutex<HashMap<String, u32>>,
    peer: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut table) = self.table.lock()
            && let Some(n) = table.get_mut(&self.peer)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                table.remove(&self.peer);
            }
        }
    }
}

/// What applying a delivery may need that is read before its write.
#[derive(Default)]
pub(super) struct Before {
    pub me: String,
    /// This instance is an EPCI: it sends its members its roster, and relays their topic
    /// messages.
    pub epci: bool,
    /// The events of the agendas shared from here (for a member newly known through a
    /// roster), every peer, and the categories handled here (for an EPCI's roster): read
    /// only for a delivery with a roster or a key rotation.
    pub shared: Vec<(Agenda, Event)>,
    pub peers: Vec<String>,
    pub competences: roster::Categories,
}

impl Before {
    pub fn read(repos: &crate::store::Repos, me: &str, epci: bool, full: bool) -> crate::domain::Result<Before> {
        let mut before = Before { me: me.to_owned(), epci, ..Before::default() };
        if full {
            before.shared = agendas::shared_here(repos)?;
            (before.peers, before.competences) = roster::inputs(repos)?;
        }
        Ok(before)
    }
}

/// At most this many deliveries of one peer at once.
const MAX_IN_FLIGHT: u32 = 2;

/// The answer to one message of a delivery.
fn outcome(result: std::result::Result<(), &str>, duplicate: bool) -> Value {
    match result {
        Ok(()) if duplicate => Value::String("duplicate".into()),
        Ok(()) => Value::String("accepted".into()),
        Err(code) => Value::Object(BTreeMap::from([("rejected".to_owned(), Value::String(code.to_owned()))])),
    }
}

impl Federation {
    /// The active peer that signed this HTTP request (`Authorization`), checked cheapest
    /// first: no store read before the destination is this instance, no network call.
    pub(super) fn authenticate(
        &self,
        (method, path, body): (&str, &str, &[u8]),
        authorization: Option<&str>,
    ) -> std::result::Result<Peer, AuthError> {
        let auth = Authorization::parse(authorization.ok_or(AuthError::Malformed)?)?;
        let now = self.core.clock.now().as_millisecond();
        let mut sender: Option<Peer> = None;
        auth.check((method, path, body), self.me(), now, |origin| {
            let peer = self.core.repos.peers.peer(origin).ok().flatten().filter(|p| p.status == PeerStatus::Active)?;
            let keys = peer.current_keys();
            sender = Some(peer);
            Some(keys)
        })?;
        sender.ok_or(AuthError::UnknownPeer)
    }

    /// `PUT /federation/v1/send/{txn}`: checks the delivery cheapest first (no network
    /// call, and no store read before the destination is this instance), then every
    /// message, then applies the new ones in one durable write. Answers per message.
    pub async fn receive_batch(
        &self,
        path: &str,
        authorization: Option<&str>,
        body: &[u8],
    ) -> std::result::Result<BTreeMap<String, Value>, Refused> {
        if body.len() > MAX_BATCH_BYTES {
            return Err(Refused::Batch("too_large", "a delivery holds at most 1 MiB"));
        }
        let now = self.core.clock.now();
        let peer = self.authenticate(("PUT", path, body), authorization)?;
        let _in_flight = {
            let mut table = self.in_flight.lock().map_err(|_| Error::Internal("in-flight table".into()))?;
            let n = table.entry(peer.base_url.clone()).or_insert(0);
            if *n >= MAX_IN_FLIGHT {
                return Err(Refused::Busy);
            }
            *n += 1;
            InFlight { table: &self.in_flight, peer: peer.base_url.clone() }
        };
        let batch = Value::parse(body).map_err(|_| Refused::Batch("invalid_batch", "not canonical JSON"))?;
        let items = match batch.get("messages") {
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_BATCH => items.clone(),
            _ => return Err(Refused::Batch("invalid_batch", "a delivery holds 1 to 50 messages")),
        };
        // Signatures are checked off the async workers.
        let (me, origin, pinned) = (self.me().to_owned(), peer.base_url.clone(), peer.pinned_keys());
        // Another's message is possible only from an EPCI; its roster is read only then.
        let others = items.iter().any(|v| v.get("origin").and_then(Value::as_str) != Some(peer.base_url.as_str()));
        let relayable = if others { roster::relayable(&self.core.repos, &peer, &me)? } else { Default::default() };
        let checked = tokio::task::spawn_blocking(move || {
            let keys = |from: &str, kind: &str| {
                if from == origin {
                    Some(pinned.clone())
                } else if roster::relayable_type(kind) {
                    relayable.get(from).cloned()
                } else {
                    None
                }
            };
            let check = |(i, value): (usize, Value)| {
                let id = value.get("id").and_then(Value::as_str).map_or_else(|| format!("#{i}"), str::to_owned);
                (id, Message::check(value, &me, keys))
            };
            // Two threads share a large batch's signature checks, in order.
            let mut items: Vec<(usize, Value)> = items.into_iter().enumerate().collect();
            if items.len() < 8 {
                return items.into_iter().map(check).collect::<Vec<_>>();
            }
            let second = items.split_off(items.len() / 2);
            std::thread::scope(|scope| {
                let other = scope.spawn(|| second.into_iter().map(check).collect::<Vec<_>>());
                let mut first: Vec<_> = items.into_iter().map(check).collect();
                first.extend(other.join().unwrap_or_default());
                first
            })
        })
        .await
        .map_err(|e| Error::Internal(format!("signature checks: {e}")))?;
        let ctx = WriteContext::of(&self.core);
        let full = checked
            .iter()
            .any(|(_, m)| m.as_ref().is_ok_and(|m| m.kind.starts_with("roster.") || m.kind == "key.rotate"));
        let before = Arc::new(Before::read(&self.core.repos, self.me(), self.instance.identity.kind == "epci", full)?);
        let peer = Arc::new(peer);
        let checked = Arc::new(checked);
        let (results, wake) = self
            .core
            .store
            .write(move |tx| {
                let queued_before = super::outbox::queued_so_far_tx(&ctx.repos, tx)?;
                let mut results = BTreeMap::new();
                for (id, checked) in checked.iter() {
                    let m = match checked {
                        Ok(m) => m,
                        Err(rejection) => {
                            results.entry(id.clone()).or_insert_with(|| outcome(Err(rejection.code()), false));
                            continue;
                        }
                    };
                    if ctx.repos.federation.was_received_tx(tx, &m.origin, &m.id)? {
                        results.entry(id.clone()).or_insert_with(|| outcome(Ok(()), true));
                        continue;
                    }
                    let checkpoint = tx.checkpoint();
                    // A relayed message is applied as its origin's.
                    let origin = if m.origin == peer.base_url {
                        Some(Peer::clone(&peer))
                    } else {
                        ctx.repos.peers.peer_tx(tx, &m.origin)?
                    };
                    let applied = match origin.map(|origin| apply_tx(&ctx, tx, &origin, m, &before, now)) {
                        Some(Ok(applied)) => applied,
                        None => Err("unknown_peer"),
                        Some(Err(TxError::App(e))) => Err(refusal_of(&e)),
                        Some(Err(e)) => return Err(e),
                    };
                    // An EPCI passes on what a member sent to other members too.
                    if applied.is_ok() && before.epci && m.origin == peer.base_url {
                        roster::relay_tx(&ctx, tx, m, &before.me)?;
                    }
                    match applied {
                        Ok(()) => {
                            let received = Received {
                                origin: m.origin.clone(),
                                id: m.id.clone(),
                                kind: m.kind.clone(),
                                received_at: now.as_millisecond(),
                                outcome: "accepted".into(),
                                message: String::from_utf8_lossy(&m.value.canonical()).into_owned(),
                            };
                            ctx.repos.federation.put_received(tx, &received)?;
                        }
                        Err(_) => tx.rollback(checkpoint),
                    }
                    results.entry(id.clone()).or_insert_with(|| outcome(applied, false));
                }
                // Any authenticated delivery from a peer shows it is back: what waits for it
                // goes at once.
                let mut state = ctx.repos.federation.delivery_tx(tx, &peer.base_url)?;
                let reset = state.failures > 0 || state.next_attempt_at > 0;
                if reset {
                    state.failures = 0;
                    state.next_attempt_at = 0;
                    ctx.repos.federation.put_delivery(tx, &state)?;
                }
                // Wake the senders if the peer is back, or if applying queued messages
                // (relays, a roster, a transfer's forward).
                let queued = super::outbox::queued_so_far_tx(&ctx.repos, tx)? != queued_before;
                Ok((results, reset || queued))
            })
            .await?;
        self.core.wake_mailer.notify_one();
        if wake {
            self.core.outbox.wake.notify_one();
        }
        Ok(results)
    }
}

/// Applies one checked message of `peer` (its origin), by the kind of object it is about.
pub(super) fn apply_tx(
    ctx: &WriteContext,
    tx: &crate::store::Tx<'_>,
    peer: &Peer,
    m: &Message,
    before: &Before,
    now: jiff::Timestamp,
) -> crate::store::TxResult<std::result::Result<(), shared::Refusal>> {
    match m.object.kind.as_str() {
        shared::REQUEST => shared::apply_tx(ctx, tx, peer, m, now),
        rotation::KEY => {
            let applied = rotation::apply_tx(ctx, tx, peer, m, now)?;
            // An EPCI tells its members of a member's new key.
            if applied.is_ok() && before.epci && peer.member {
                roster::changed_tx(&ctx.outbox, &ctx.repos, tx, (&before.peers, &before.competences), None, now)?;
            }
            Ok(applied)
        }
        agendas::EVENT => agendas::apply_tx(ctx, tx, peer, m, now),
        roster::ROSTER => roster::apply_tx(ctx, tx, peer, m, (&before.me, &before.shared), now),
        topics::TOPIC | topics::POST => topics::apply_tx(ctx, tx, peer, m, &before.me, now),
        _ => Ok(Err("unsupported")),
    }
}

/// The code a message is refused with when applying it failed.
fn refusal_of(e: &Error) -> &'static str {
    match e {
        Error::Invalid { .. } => "invalid_content",
        Error::Conflict { .. } => "conflict",
        Error::NotFound { .. } => "unknown_object",
        _ => "cannot_apply",
    }
}
