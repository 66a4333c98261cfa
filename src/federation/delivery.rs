//! Delivery to peers (docs/federation.md, section 8): one sender per active peer drains its
//! queue in order, one batch in flight, with a persisted backoff; admins are told when a
//! peer stays unreachable.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::auth::Delivery;
use super::operations::instant;
use super::pairing::{Federation, read_limited};
use super::peer::{Peer, PeerStatus};
use super::records::{DeadLetter, DeliveryState};
use crate::domain::{Error, Result};

/// At most this many messages in one delivery.
pub const MAX_BATCH: usize = 50;
/// At most this many bytes in one delivery.
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

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

impl Federation {
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
        // A key rotation ends its batch: what follows is signed with the new key, which the
        // peer learns only by applying it.
        let mut batch = batch;
        if let Some(i) = batch.iter().position(|q| q.kind == "key.rotate") {
            batch.truncate(i + 1);
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
        let body = axum::body::Bytes::from(body);
        let path = send_path(batch.iter().map(|q| &q.id));
        // Signed with the current key; while a peer has not yet applied a rotation (it comes
        // after the messages queued before it), the key it still knows answers instead.
        let ring = self.core.outbox.ring();
        let keys = std::iter::once(ring.current()).chain(ring.retired().into_iter().take(3));
        let mut response = None;
        for key in keys {
            let delivery = Delivery {
                method: "PUT",
                path: &path,
                origin: self.me(),
                destination: &base_url,
                ts: self.core.clock.now().as_millisecond(),
            };
            let authorization = delivery.authorization(&key, &body);
            let sent = match self.client.request(reqwest::Method::PUT, &format!("{base_url}{path}")) {
                Ok(request) => {
                    request
                        .header("authorization", authorization)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                }
                Err(e) => return self.failed(&base_url, e.to_string(), None).await,
            };
            match sent {
                Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
                    let bytes = read_limited(r, 4096).await.unwrap_or_default();
                    if String::from_utf8_lossy(&bytes).contains("\"unknown_key\"") {
                        continue;
                    }
                    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
                    return self.failed(&base_url, format!("401 Unauthorized: {text}"), None).await;
                }
                Ok(r) => {
                    response = Some(r);
                    break;
                }
                Err(e) => return self.failed(&base_url, e.without_url().to_string(), None).await,
            }
        }
        let Some(response) = response else {
            return self
                .failed(&base_url, "401 Unauthorized: none of our keys is known to this peer".into(), None)
                .await;
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
        let jitter = jitter()?;
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

/// A random factor between 0.8 and 1.2, so that instances do not retry in step.
pub(super) fn jitter() -> Result<f64> {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("random source: {e}")))?;
    Ok(0.8 + 0.4 * f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX))
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

/// Federation's background work: a sender per active peer, and the fetching of files of
/// forwarded requests. Aborting it stops both (nothing else keeps the store open).
pub async fn run(federation: Arc<Federation>) {
    tokio::join!(super::files::fetch_loop(federation.clone()), senders(federation));
}

/// The tasks of the senders, stopped when this is dropped (the loop aborted at shutdown).
struct Senders(HashMap<String, tokio::task::JoinHandle<()>>);

impl Drop for Senders {
    fn drop(&mut self) {
        for task in self.0.values() {
            task.abort();
        }
    }
}

/// Runs the senders: one per active peer, each draining its queue in order, one batch in
/// flight. Woken when a message is queued, when a peer comes back, and by "retry now".
async fn senders(federation: Arc<Federation>) {
    let wake = federation.core.outbox.wake.clone();
    let (bump, _) = tokio::sync::watch::channel(0u64);
    let mut tasks = Senders(HashMap::new());
    let senders = &mut tasks.0;
    loop {
        senders.retain(|_, task| !task.is_finished());
        match federation.core.repos.peers.active() {
            Ok(peers) => {
                for peer in peers {
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
