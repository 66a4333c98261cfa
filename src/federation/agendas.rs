//! Shared agendas (docs/federation.md, section 12): the events of an agenda its owner
//! shares go to every paired instance (`agenda.event.upsert`, `agenda.event.cancel`),
//! where they appear, read-only, in an agenda named after it. The owner alone writes an
//! event; the highest version wins; a cancellation is a tombstone. Restricted events (for
//! their attendees only) are never sent; an event made restricted is withdrawn as a
//! cancellation.

use jiff::Timestamp;

use super::canonical::Value;
use super::message::{Message, ObjectRef, is_object_id, mirror_id, owner_id};
use super::outbox::{Outbox, content, text};
use super::peer::Peer;
use super::shared::Refusal;
use crate::domain::actor::Actor;
use crate::domain::agenda::{Agenda, Event, EventVisibility, Recurrence, Timing};
use crate::service::requests::WriteContext;
use crate::store::{Repos, Tx, TxResult};

pub const EVENT: &str = "event";

/// What peers see of `event`: `None` when it is not (or no longer) shared.
fn shared_view(agenda: &Agenda, event: &Event) -> Option<Value> {
    if event.cancelled || event.visibility == EventVisibility::Restricted {
        return None;
    }
    let json = |v: serde_json::Value| Value::from_json(&v).ok();
    let timing = json(serde_json::to_value(event.timing).ok()?)?;
    let recurrence = match &event.recurrence {
        Some(r) => json(serde_json::to_value(r).ok()?)?,
        None => Value::Null,
    };
    Some(Value::Object(content([
        ("agenda", Value::Object(content([("id", text(&agenda.id)), ("name", text(&agenda.name))]))),
        ("title", text(&event.title)),
        ("description", text(&event.description)),
        ("place", text(&event.place)),
        ("timing", timing),
        ("recurrence", recurrence),
        ("visibility", text(event.visibility.as_str())),
    ])))
}

/// The message telling peers of `event` as it now stands, if they are to be told.
fn message(
    agenda: &Agenda,
    event: &Event,
) -> Option<(&'static str, ObjectRef, std::collections::BTreeMap<String, Value>)> {
    let object =
        ObjectRef { kind: EVENT.to_owned(), id: event.id.clone(), version: i64::try_from(event.version).ok()? };
    match shared_view(agenda, event) {
        Some(Value::Object(members)) => Some(("agenda.event.upsert", object, members)),
        // Never shared before (first version): nothing to withdraw.
        _ if event.version <= 1 => None,
        _ => Some(("agenda.event.cancel", object, Default::default())),
    }
}

/// Inside the write of an event of a shared agenda of this instance: tells every active
/// peer among `peers` (read before the write, checked again inside it).
pub fn after_event_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    peers: &[String],
    (agenda, event): (&Agenda, &Event),
    now: Timestamp,
) -> TxResult<()> {
    if !agenda.shared || agenda.peer.is_some() {
        return Ok(());
    }
    if let Some(message) = message(agenda, event) {
        to_active_tx(outbox, repos, tx, peers, message, now)?;
    }
    Ok(())
}

/// Queues `message` to each active peer among `peers`; returns how many.
fn to_active_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    peers: &[String],
    message: (&'static str, ObjectRef, std::collections::BTreeMap<String, Value>),
    now: Timestamp,
) -> TxResult<usize> {
    let mut sent = 0;
    for url in peers {
        if repos.peers.is_active_tx(tx, url)? {
            outbox.queue(repos, tx, url, message.clone(), now)?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// Applies a peer's `agenda.event.*` to the copy of its agenda here.
pub fn apply_tx(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    peer: &Peer,
    m: &Message,
    now: Timestamp,
) -> TxResult<Result<(), Refusal>> {
    let repos = &ctx.repos;
    let Ok(version) = u64::try_from(m.object.version) else { return Ok(Err("invalid_message")) };
    if !is_object_id(&m.object.id) || version == 0 {
        return Ok(Err("invalid_message"));
    }
    let id = mirror_id(&peer.base_url, &m.object.id);
    let stored = repos.agendas.event_tx(tx, &id)?;
    // The highest version wins; a cancellation is final.
    if stored.as_ref().is_some_and(|e| e.version >= version || e.cancelled) {
        return Ok(Ok(()));
    }
    let actor = Actor::peer(&peer.base_url);
    let event = match m.kind.as_str() {
        "agenda.event.cancel" => match stored {
            Some(e) => Event { cancelled: true, version, updated_at: now, ..e },
            // Never received: nothing to cancel.
            None => return Ok(Ok(())),
        },
        "agenda.event.upsert" => {
            let c = &m.content;
            let field = |name: &str| c.get(name).and_then(Value::as_str).map(str::to_owned);
            let agenda = c.get("agenda");
            let agenda_field = |name: &str| agenda.and_then(|a| a.get(name)).and_then(Value::as_str);
            let (Some(agenda_id), Some(agenda_name)) = (agenda_field("id"), agenda_field("name")) else {
                return Ok(Err("invalid_content"));
            };
            let decode = |name: &str| c.get(name).map(|v| v.canonical());
            let timing: Option<Timing> = decode("timing").and_then(|b| serde_json::from_slice(&b).ok());
            let recurrence: Option<Option<Recurrence>> =
                decode("recurrence").and_then(|b| serde_json::from_slice(&b).ok());
            let visibility = field("visibility").as_deref().and_then(EventVisibility::parse);
            let (Some(title), Some(description), Some(place), Some(timing), Some(recurrence), Some(visibility)) =
                (field("title"), field("description"), field("place"), timing, recurrence, visibility)
            else {
                return Ok(Err("invalid_content"));
            };
            if !is_object_id(agenda_id) || visibility == EventVisibility::Restricted {
                return Ok(Err("invalid_content"));
            }
            let agenda_here = mirror_id(&peer.base_url, agenda_id);
            let name = format!("{} — {}", peer.name, agenda_name.trim()).chars().take(120).collect::<String>();
            match repos.agendas.agenda_tx(tx, &agenda_here)? {
                Some(a) if a.name == name => {}
                existing => {
                    let agenda = Agenda {
                        id: agenda_here.clone(),
                        name,
                        department: None,
                        owner: peer.base_url.clone(),
                        version: existing.as_ref().map_or(1, |a| a.version + 1),
                        created_at: existing.as_ref().map_or(now, |a| a.created_at),
                        shared: false,
                        peer: Some(peer.base_url.clone()),
                    };
                    repos.agendas.put_agenda(tx, &agenda)?;
                }
            }
            Event {
                id: id.clone(),
                agenda: agenda_here,
                owner: peer.base_url.clone(),
                version,
                title,
                description,
                place,
                timing,
                recurrence,
                attendees: Vec::new(),
                visibility,
                requests: Vec::new(),
                topic: None,
                cancelled: false,
                created_by: actor.id.clone(),
                created_at: stored.as_ref().map_or(now, |e| e.created_at),
                updated_at: now,
            }
        }
        _ => return Ok(Err("unsupported")),
    };
    if event.validate().is_err() {
        return Ok(Err("invalid_content"));
    }
    repos.agendas.put_event(tx, &event)?;
    let details = serde_json::json!({"agenda": event.agenda, "title": event.title, "version": event.version});
    let action = if event.cancelled { "event.cancel" } else { "event.receive" };
    repos.audit.append(tx, now, &actor, action, format!("event:{}", event.id), details)?;
    Ok(Ok(()))
}

/// What this instance holds of the agendas it shares with `peer`, for the state hash:
/// its own shared events, live, and the live events received from it, each by its id at
/// its owner and its version.
pub fn shared_events(repos: &Repos, me: &str, peer: &str) -> crate::domain::Result<Vec<(String, String, u64)>> {
    let agendas = repos.agendas.agendas()?;
    let mut out = Vec::new();
    for agenda in agendas {
        let owner = match &agenda.peer {
            Some(p) if p == peer => p.clone(),
            None if agenda.shared => me.to_owned(),
            _ => continue,
        };
        for event in repos.agendas.events_of(&agenda.id)? {
            if shared_view(&agenda, &event).is_none() {
                continue;
            }
            let id =
                if agenda.peer.is_some() { owner_id(peer, &event.id).unwrap_or_default() } else { event.id.clone() };
            out.push((owner.clone(), id, event.version));
        }
    }
    out.sort();
    Ok(out)
}

/// Every event of the agendas this instance shares, with its agenda.
pub fn shared_here(repos: &Repos) -> crate::domain::Result<Vec<(Agenda, Event)>> {
    let mut out = Vec::new();
    for agenda in repos.agendas.agendas()?.into_iter().filter(|a| a.shared && a.peer.is_none()) {
        for event in repos.agendas.events_of(&agenda.id)? {
            out.push((agenda.clone(), event));
        }
    }
    Ok(out)
}

/// The messages telling `peers` of every shared event of this instance now (when an agenda
/// becomes shared, or a peer is paired).
pub fn share_all_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    (peers, events): (&[String], &[(Agenda, Event)]),
    now: Timestamp,
) -> TxResult<usize> {
    let mut sent = 0;
    for (agenda, event) in events {
        // Only live events: nothing to withdraw from a peer that never had them.
        if let Some(upsert @ ("agenda.event.upsert", ..)) = message(agenda, event) {
            sent += to_active_tx(outbox, repos, tx, peers, upsert, now)?;
        }
    }
    Ok(sent)
}
