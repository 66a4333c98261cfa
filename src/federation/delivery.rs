//! Delivery (docs/federation.md, sections 6 and 8): the send endpoint's checks and the
//! one write that applies a batch, and the senders, one per peer, that drain its queue
//! in order with one batch in flight and a persisted backoff.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::auth::{AuthError, Authorization, Delivery};
use super::canonical::Value;
use super::message::Message;
use super::pairing::{Federation, read_limited};
use super::peer::{Peer, PeerStatus};
use super::records::{DeadLetter, DeliveryState, Received};
use super::shared;
use crate::domain::actor::Actor;
use crate::domain::{Error, Result};
use crate::service::permission::{Action, require};
use crate::service::requests::WriteContext;
use crate::store::TxError;

/// At most this many messages in one delivery.
pub const MAX_BATCH: usize = 50;
/// At most this many bytes in one delivery.
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

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

/// The path a batch is sent to: its id comes from its messages' ids, so a retry of the
/// same batch reuses it.
pub fn send_path(ids: impl Iterator<Item = impl AsRef<str>>) -> String {
    let mut hash = Sha256::new();
    for id in ids {
        hash.update(id.as_ref().as_bytes());
        hash.update(b"\n");
    }
    format!("/federation/v1/send/{}", &crate::domain::audit::hex(&hash.finalize())[..32])
}

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
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    pub id: String,
    pub kind: String,
    pub code: String,
    pub at: Option<Timestamp>,
}

fn instant(ms: i64) -> Option<Timestamp> {
    Timestamp::from_millisecond(ms).ok()
}

impl Federation {
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
        let auth = Authorization::parse(authorization.ok_or(AuthError::Malformed)?)?;
        let now = self.core.clock.now();
        let repos = self.core.repos.clone();
        let mut sender: Option<Peer> = None;
        auth.check(("PUT", path, body), self.me(), now.as_millisecond(), |origin| {
            let peer = repos.peers.peer(origin).ok().flatten().filter(|p| p.status == PeerStatus::Active)?;
            let keys = peer.current_keys();
            sender = Some(peer);
            Some(keys)
        })?;
        let peer = sender.ok_or(AuthError::UnknownPeer)?;
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
        let checked = tokio::task::spawn_blocking(move || {
            let check = |(i, value): (usize, Value)| {
                let id = value.get("id").and_then(Value::as_str).map_or_else(|| format!("#{i}"), str::to_owned);
                (id, Message::check(value, &origin, &me, false, |_| pinned.clone()))
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
        let peer = Arc::new(peer);
        let checked = Arc::new(checked);
        let (results, reset) = self
            .core
            .store
            .write(move |tx| {
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
                    let applied = match shared::apply_tx(&ctx, tx, &peer, m, now) {
                        Ok(applied) => applied,
                        Err(TxError::App(e)) => Err(refusal_of(&e)),
                        Err(e) => return Err(e),
                    };
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
                Ok((results, reset))
            })
            .await?;
        self.core.wake_mailer.notify_one();
        if reset {
            self.core.outbox.wake.notify_one();
        }
        Ok(results)
    }

    /// Delivery to every peer, for the admin page.
    pub fn deliveries(&self, actor: &Actor) -> Result<Vec<PeerDelivery>> {
        require(actor, Action::ManageInstance)?;
        let repos = &self.core.repos;
        let mut out = Vec::new();
        for peer in repos.peers.peers()? {
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

    /// One attempt to deliver the first messages of `peer`'s queue after the sequence
    /// `after` (those before were delivered, their removal being written).
    async fn deliver(&self, peer: &Peer, after: u64) -> Result<Attempt> {
        let repos = &self.core.repos;
        let base_url = peer.base_url.clone();
        let batch = {
            let (repos, base_url) = (repos.clone(), base_url.clone());
            crate::service::blocking(move || repos.federation.queued(&base_url, after, MAX_BATCH, MAX_BATCH_BYTES - 64))
                .await?
        };
        if batch.is_empty() {
            return Ok(Attempt::Empty);
        }
        let mut body = Vec::with_capacity(batch.iter().map(|q| q.message.len() + 1).sum::<usize>() + 16);
        body.extend_from_slice(b"{\"messages\":[");
        for (i, q) in batch.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(q.message.as_bytes());
        }
        body.extend_from_slice(b"]}");
        let path = send_path(batch.iter().map(|q| &q.id));
        let now = self.core.clock.now();
        let delivery = Delivery {
            method: "PUT",
            path: &path,
            origin: self.me(),
            destination: &base_url,
            ts: now.as_millisecond(),
        };
        let authorization = delivery.authorization(self.core.outbox.key(), &body);
        let sent = match self.client.request(reqwest::Method::PUT, &format!("{base_url}{path}")) {
            Ok(request) => {
                request
                    .header("authorization", authorization)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
            }
            Err(e) => return self.failed(&base_url, e.to_string(), None).await,
        };
        let response = match sent {
            Ok(response) => response,
            Err(e) => return self.failed(&base_url, e.without_url().to_string(), None).await,
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(MAX_BACKOFF.as_secs())));
        let answer = read_limited(response, MAX_BATCH_BYTES).await;
        let answer = match answer {
            Ok(bytes) if status.is_success() => bytes,
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
                return self.failed(&base_url, format!("{status}: {text}"), retry_after).await;
            }
            Err(e) => return self.failed(&base_url, e, retry_after).await,
        };
        let results: BTreeMap<String, serde_json::Value> = match serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| serde_json::from_value(v.get("results")?.clone()).ok())
        {
            Some(results) => results,
            None => return self.failed(&base_url, "the answer has no results".into(), retry_after).await,
        };
        let now = self.core.clock.now().as_millisecond();
        let answered = batch.iter().all(|q| results.contains_key(&q.id));
        let last = batch.last().map_or(after, |q| q.seq);
        let (repos, batch) = (repos.clone(), Arc::new(batch));
        let store = self.core.store.clone();
        let removal = async move {
            store
                .write(move |tx| {
                    let mut state = repos.federation.delivery_tx(tx, &base_url)?;
                    let mut done = 0;
                    for q in batch.iter() {
                        match results.get(&q.id) {
                            Some(serde_json::Value::String(s)) if s == "accepted" || s == "duplicate" => {
                                repos.federation.remove_queued(tx, &base_url, q.seq)?;
                                state.delivered += 1;
                                done += 1;
                            }
                            Some(serde_json::Value::Object(o)) => {
                                let code = o.get("rejected").and_then(|c| c.as_str()).unwrap_or("rejected");
                                repos.federation.remove_queued(tx, &base_url, q.seq)?;
                                let dead =
                                    DeadLetter { queued: q.clone(), code: code.chars().take(100).collect(), at: now };
                                repos.federation.put_dead(tx, &dead)?;
                                state.dead += 1;
                                done += 1;
                            }
                            // No answer for it: it stays at the head of the queue.
                            _ => {}
                        }
                    }
                    state.failures = 0;
                    state.next_attempt_at = 0;
                    state.unreachable_since = None;
                    state.alerted = false;
                    state.last_success_at = Some(now);
                    state.last_error.clear();
                    repos.federation.put_delivery(tx, &state)?;
                    Ok(done)
                })
                .await
        };
        // Every message answered: the next batch can go while their removal is written (if
        // it were lost, they would be sent again and answered "duplicate").
        if answered {
            return Ok(Attempt::Sent { last, removal: tokio::spawn(removal) });
        }
        Ok(if removal.await? == 0 {
            Attempt::Stalled
        } else {
            Attempt::Sent { last: after, removal: tokio::spawn(async { Ok(0) }) }
        })
    }

    /// The e-mails telling admins that `peer` has been unreachable too long, when it is
    /// time to send them (once per run of failures).
    fn alerts(&self, peer: &str, error: &str, now: i64) -> Result<Vec<crate::domain::notification::Notification>> {
        use crate::domain::account::AccountStatus;
        use crate::domain::actor::Role;
        use crate::domain::notification::{Address, Medium, Notification, NotificationKind};
        let state = self.core.repos.federation.delivery(peer)?;
        let too_long = i64::from(self.alert_after_hours) * 3_600_000;
        let Some(since) = state.unreachable_since.filter(|s| now - s >= too_long && !state.alerted) else {
            return Ok(Vec::new());
        };
        if !self.core.settings.mail_enabled {
            return Ok(Vec::new());
        }
        let l = crate::l10n::Locale::french();
        let s = &self.core.settings;
        let name = self.core.repos.peers.peer(peer)?.map_or_else(|| peer.to_owned(), |p| p.name);
        let since = instant(since).map(|t| l.date_time(&t)).unwrap_or_default();
        let count = self.core.repos.federation.depth(peer)?.0.to_string();
        let link = format!("{}/admin/federation", s.public_url);
        let values = [
            ("collectivite", s.instance_name.as_str()),
            ("peer", name.as_str()),
            ("url", peer),
            ("since", since.as_str()),
            ("count", count.as_str()),
            ("error", error),
            ("link", link.as_str()),
        ];
        let fill = |key: &str| crate::service::mail::fill(l.t(key), &values);
        let at = instant(now).unwrap_or_else(Timestamp::now);
        let mut out = Vec::new();
        for admin in self.core.repos.accounts.all()? {
            if admin.role != Role::Admin || admin.status != AccountStatus::Active || admin.email.is_empty() {
                continue;
            }
            let address = Address {
                medium: Medium::Email,
                to: &admin.email,
                subject: fill("mail.peer_unreachable_subject"),
                text: format!("{}\n\n{}", fill("mail.peer_unreachable_body"), crate::service::mail::SIGNATURE),
            };
            out.push(Notification::new(
                crate::service::mail::new_id()?,
                NotificationKind::PeerUnreachable,
                address,
                None,
                at,
            ));
        }
        Ok(out)
    }

    /// Records a failed attempt and when to try again.
    async fn failed(&self, base_url: &str, error: String, retry_after: Option<Duration>) -> Result<Attempt> {
        tracing::warn!(peer = %base_url, error = %error, "federation delivery failed");
        let now = self.core.clock.now().as_millisecond();
        let (repos, base_url, base) = (self.core.repos.clone(), base_url.to_owned(), self.retry_base);
        let mut jitter = [0u8; 2];
        getrandom::fill(&mut jitter).map_err(|e| Error::Internal(format!("random source: {e}")))?;
        let jitter = 0.8 + 0.4 * f64::from(u16::from_le_bytes(jitter)) / f64::from(u16::MAX);
        let alerts = self.alerts(&base_url, &error, now)?;
        self.core
            .store
            .write(move |tx| {
                let mut state = repos.federation.delivery_tx(tx, &base_url)?;
                state.failures = state.failures.saturating_add(1);
                state.unreachable_since.get_or_insert(now);
                if !alerts.is_empty() && !state.alerted {
                    state.alerted = true;
                    for alert in &alerts {
                        repos.outbox.put(tx, alert, None)?;
                    }
                }
                state.last_error = error.chars().take(500).collect();
                let wait = backoff(base, state.failures, jitter).max(retry_after.unwrap_or_default());
                state.next_attempt_at = now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                repos.federation.put_delivery(tx, &state)?;
                Ok(())
            })
            .await?;
        Ok(Attempt::Failed)
    }
}

/// The wait after `failures` failed attempts in a row: `base`, doubled at each further
/// failure, at most an hour, times `jitter` (0.8 to 1.2).
pub fn backoff(base: Duration, failures: u32, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF).mul_f64(jitter.clamp(0.8, 1.2))
}

enum Attempt {
    Empty,
    /// Delivered up to the sequence `last`; `removal` writes it.
    Sent {
        last: u64,
        removal: tokio::task::JoinHandle<Result<usize>>,
    },
    Stalled,
    Failed,
}

/// Waits for the removal of delivered messages to be written; if it failed, the queue is
/// read again from its head (what it kept is sent again, and answered "duplicate").
async fn written(removal: Option<tokio::task::JoinHandle<Result<usize>>>) -> bool {
    let Some(removal) = removal else { return true };
    match removal.await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "federation: delivered messages not removed from the queue");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "federation: removal task");
            false
        }
    }
}

/// Runs the senders: one per active peer, each draining its queue in order, one batch in
/// flight. Woken when a message is queued, when a peer comes back, and by "retry now".
pub async fn run(federation: Arc<Federation>) {
    let wake = federation.core.outbox.wake.clone();
    let (bump, _) = tokio::sync::watch::channel(0u64);
    let mut senders: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        senders.retain(|_, task| !task.is_finished());
        match federation.core.repos.peers.peers() {
            Ok(peers) => {
                for peer in peers.into_iter().filter(|p| p.status == PeerStatus::Active) {
                    if !senders.contains_key(&peer.base_url) {
                        let (federation, changes) = (federation.clone(), bump.subscribe());
                        let url = peer.base_url.clone();
                        senders.insert(url.clone(), tokio::spawn(send_to(federation, url, changes)));
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "federation: cannot read the peers"),
        }
        bump.send_modify(|n| *n += 1);
        let _ = tokio::time::timeout(Duration::from_secs(5), wake.notified()).await;
    }
}

/// The sender to one peer. Ends when the peer is no longer active (its queue is frozen,
/// nothing is deleted).
async fn send_to(federation: Arc<Federation>, base_url: String, mut changes: tokio::sync::watch::Receiver<u64>) {
    // Delivered up to this sequence; at most one removal being written behind the batch
    // in flight.
    let mut after = 0;
    let mut removing = None;
    loop {
        let peer = match federation.core.repos.peers.peer(&base_url) {
            Ok(Some(peer)) if peer.status == PeerStatus::Active => peer,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "federation: cannot read a peer");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let state: DeliveryState = federation.core.repos.federation.delivery(&base_url).unwrap_or_default();
        let now = federation.core.clock.now().as_millisecond();
        if state.next_attempt_at > now {
            let wait = Duration::from_millis(u64::try_from(state.next_attempt_at - now).unwrap_or(0));
            let _ = tokio::time::timeout(wait, changes.changed()).await;
            continue;
        }
        match federation.deliver(&peer, after).await {
            Ok(Attempt::Sent { last, removal }) => {
                after = if written(removing.replace(removal)).await { after.max(last) } else { 0 };
                continue;
            }
            Ok(Attempt::Empty) if after > 0 => {
                // Read from the head again once what was delivered is off the queue.
                written(removing.take()).await;
                after = 0;
                continue;
            }
            Ok(Attempt::Empty) => {
                let _ = tokio::time::timeout(Duration::from_secs(60), changes.changed()).await;
            }
            // Answered without a result for the head: wait as after a failure.
            Ok(Attempt::Stalled) => {
                let _ = tokio::time::timeout(federation.retry_base, changes.changed()).await;
            }
            Ok(Attempt::Failed) => {}
            Err(e) => {
                tracing::error!(peer = %base_url, error = %e, "federation: delivery not recorded");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
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

    /// An agent forwards a request to the paired collectivité that holds the competence.
    pub async fn forward(&self, actor: &Actor, id: u64, peer: &str) -> Result<crate::domain::request::Request> {
        require(actor, Action::WorkRequests)?;
        let (ctx, actor, now, peer) =
            (WriteContext::of(&self.core), actor.clone(), self.core.clock.now(), peer.to_owned());
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
                let change = shared::forward_tx(&outbox, &ctx.repos, tx, &old, &peer, now)?;
                let new = old.clone();
                crate::service::requests::commit_change_tx(&ctx, tx, &actor, "request.forward", &old, new, change, now)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(forwarded)
    }

    /// The link of a request with a peer, if it was forwarded or came from one.
    pub fn link(&self, id: u64) -> Result<Option<super::records::Link>> {
        self.core.repos.federation.link(id)
    }

    /// Active peers, to offer as destinations.
    pub fn active_peers(&self) -> Result<Vec<Peer>> {
        Ok(self.core.repos.peers.peers()?.into_iter().filter(|p| p.status == PeerStatus::Active).collect())
    }
}

impl Federation {
    /// What this instance holds of the requests it shares with `peer`, hashed: the same on
    /// both sides once every message has arrived (each shared request's status and its
    /// public replies by either collectivité). Tests compare it to see instances converge.
    pub fn shared_state(&self, actor: &Actor, peer: &str) -> Result<serde_json::Value> {
        require(actor, Action::ManageInstance)?;
        let repos = &self.core.repos;
        let mut objects = BTreeMap::new();
        for link in repos.federation.links()?.into_iter().filter(|l| l.peer == peer) {
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
                super::records::Side::Origin => self.me(),
                super::records::Side::Holder => peer,
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
        let count = objects.len();
        let hash = crate::domain::audit::hex(&Sha256::digest(Value::Object(objects).canonical()));
        Ok(serde_json::json!({"peer": peer, "objects": count, "hash": hash}))
    }
}
