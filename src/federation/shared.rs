//! Requests shared between a commune and the collectivité that holds the competence
//! (docs/federation.md, section 10): what is sent when a request is forwarded or changes,
//! and what a peer's messages change here. Every object has one writer: the origin says
//! what the citizen asked and may withdraw it, the holder decides and tells its status,
//! both may add public replies.

use jiff::Timestamp;

use super::canonical::Value;
use super::message::{Message, ObjectRef};
use super::outbox::{Outbox, content, text};
use super::peer::{Peer, PeerStatus};
use super::records::{Link, LinkState, Side};
use crate::domain::actor::Actor;
use crate::domain::request::{Change, Contact, Location, NewRequest, Notify, Request, Visibility};
use crate::domain::status::Status;
use crate::domain::tracking::TrackingCode;
use crate::domain::{Error, request::Channel};
use crate::service::requests::{Recording, WriteContext, commit_change_tx, record_tx};
use crate::store::{Repos, Tx, TxResult};

/// Why a message was refused, as its sender reads it back.
pub type Refusal = &'static str;

pub const REQUEST: &str = "request";

fn object(link: &Link, version: i64) -> ObjectRef {
    ObjectRef { kind: REQUEST.to_owned(), id: link.object.clone(), version }
}

/// Forwards `request` to `peer`, inside the write that records it: queues the
/// `request.forward` and links both. Returns the timeline's change.
pub fn forward_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    request: &Request,
    peer: &Peer,
    now: Timestamp,
) -> TxResult<Change> {
    if peer.status != PeerStatus::Active {
        return Err(
            Error::conflict("peer_not_active", "this collectivité is not paired (or its pairing is revoked)").into()
        );
    }
    if repos.federation.link_tx(tx, request.id)?.is_some_and(|l| l.state.is_live()) {
        return Err(Error::conflict("already_forwarded", "this request was already forwarded").into());
    }
    let category = repos.catalogue.category_tx(tx, &request.category)?;
    let category_name = category.as_ref().map_or(request.category.clone(), |c| c.name.clone());
    let link = Link {
        request: request.id,
        side: Side::Origin,
        peer: peer.base_url.clone(),
        peer_name: peer.name.clone(),
        object: request.id.to_string(),
        state: LinkState::Pending,
        version: 0,
    };
    // Only what the holder needs: who asked (a name), what, and where; the citizen's
    // address and phone only when the category needs them to handle it.
    let needs = |field| category.as_ref().is_some_and(|c| c.requires(field));
    use crate::domain::catalogue::RequiredField;
    let c = &request.contact;
    let mut contact = vec![("name", text(&c.name))];
    if needs(RequiredField::Email) {
        contact.push(("email", text(&c.email)));
    }
    if needs(RequiredField::Phone) {
        contact.push(("phone", text(&c.phone)));
    }
    if needs(RequiredField::PostalAddress) {
        contact.push(("postal_address", text(&c.postal_address)));
    }
    let contact = Value::Object(contact.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let location = match &request.location {
        Some(l) => {
            let coordinate = |v: Option<f64>| v.map_or(Value::Null, |v| text(&format!("{v:.6}")));
            Value::Object(content([
                ("address", text(&l.address)),
                ("insee_code", text(&l.insee_code)),
                ("lat", coordinate(l.lat)),
                ("lon", coordinate(l.lon)),
            ]))
        }
        None => Value::Null,
    };
    let attachments = request
        .attachments
        .iter()
        .map(|a| {
            Value::Object(content([
                ("sha256", text(&a.sha256)),
                ("name", text(&a.name)),
                ("media_type", text(&a.media_type)),
                ("size", Value::Int(i64::try_from(a.size).unwrap_or(i64::MAX))),
            ]))
        })
        .collect();
    let body = content([
        ("category", text(&request.category)),
        ("category_name", text(&category_name)),
        ("subject", text(&request.subject)),
        ("description", text(&request.description)),
        ("registration", text(&request.registration)),
        ("received_at", Value::Int(request.received_at.as_millisecond())),
        ("contact", contact),
        ("location", location),
        ("attachments", Value::Array(attachments)),
    ]);
    outbox.queue(repos, tx, &peer.base_url, ("request.forward", object(&link, 1), body), now)?;
    repos.federation.put_link(tx, &link)?;
    Ok(Change::Forwarded { to: peer.name.clone(), peer: peer.base_url.clone() })
}

/// Takes back a request forwarded from here, inside the write that records it: queues the
/// `request.withdraw` (the holder closes its copy) and ends the link; the request is
/// handled here again. Returns the timeline's change.
pub fn withdraw_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    (request, reason): (&Request, &str),
    by: &str,
    now: Timestamp,
) -> TxResult<Change> {
    let mut link = match repos.federation.link_tx(tx, request.id)? {
        Some(link) if link.side == Side::Origin && link.state.is_live() => link,
        _ => return Err(Error::conflict("not_forwarded", "this request is not held by another collectivité").into()),
    };
    let reason = if reason.trim().is_empty() { Value::Null } else { text(reason.trim()) };
    let version = i64::from(request.events);
    outbox.queue(
        repos,
        tx,
        &link.peer,
        ("request.withdraw", object(&link, version), content([("reason", reason)])),
        now,
    )?;
    link.state = LinkState::Withdrawn;
    repos.federation.put_link(tx, &link)?;
    Ok(Change::Withdrawn { by: by.to_owned() })
}

/// Hands a request held here (forwarded by its origin) on to another body `to`, inside the
/// write that records it: queues the `request.transfer` to the origin, which forwards it
/// there (or takes it back), and ends the link. Returns the timeline's change; the caller
/// closes the copy here.
pub fn transfer_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    (request, to, reason): (&Request, &Peer, &str),
    now: Timestamp,
) -> TxResult<Change> {
    let mut link = match repos.federation.link_tx(tx, request.id)? {
        Some(link) if link.side == Side::Holder && link.state.is_live() => link,
        _ => return Err(Error::conflict("not_held", "this request was not forwarded here").into()),
    };
    if to.base_url == link.peer || to.status != PeerStatus::Active {
        return Err(Error::invalid("unknown_peer", "peer", "another paired collectivité than the origin").into());
    }
    let reason = if reason.trim().is_empty() { Value::Null } else { text(reason.trim()) };
    let body = content([("to", text(&to.base_url)), ("reason", reason)]);
    let version = i64::from(request.events);
    outbox.queue(repos, tx, &link.peer, ("request.transfer", object(&link, version), body), now)?;
    link.state = LinkState::Transferred;
    repos.federation.put_link(tx, &link)?;
    Ok(Change::Forwarded { to: to.name.clone(), peer: to.base_url.clone() })
}

/// What a change made here sends to the peer sharing the request, in the same write.
/// Refuses a change the other side decides (the status of a request held elsewhere).
#[allow(clippy::too_many_arguments)]
pub fn after_change_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    actor: &Actor,
    new: &Request,
    change: &Change,
    now: Timestamp,
) -> TxResult<()> {
    // What a peer said is not sent back to it.
    if actor.is_peer() {
        return Ok(());
    }
    let Some(mut link) = repos.federation.link_tx(tx, new.id)? else {
        return Ok(());
    };
    if !link.state.is_live() {
        return Ok(());
    }
    let version = i64::from(new.events);
    let peer = link.peer.clone();
    match (link.side, change) {
        (Side::Origin, Change::Status { .. }) => {
            return Err(Error::conflict(
                "held_elsewhere",
                format!("this request is handled by {}: its status comes from there", link.peer_name),
            )
            .into());
        }
        (_, Change::Comment { visibility: Visibility::Public, body }) => {
            outbox.queue(
                repos,
                tx,
                &peer,
                ("request.comment", object(&link, version), content([("body", text(body))])),
                now,
            )?;
        }
        (Side::Holder, Change::Status { to, reason, .. }) => {
            let reason = reason.as_deref().map_or(Value::Null, text);
            if link.state == LinkState::Pending && *to == Status::Rejected {
                let body = content([("reason", reason)]);
                outbox.queue(repos, tx, &peer, ("request.reject", object(&link, version), body), now)?;
                link.state = LinkState::Rejected;
            } else {
                if link.state == LinkState::Pending {
                    let body = content([
                        ("due_at", Value::Int(new.due_at.as_millisecond())),
                        ("registration", text(&new.registration)),
                    ]);
                    outbox.queue(repos, tx, &peer, ("request.accept", object(&link, version), body), now)?;
                    link.state = LinkState::Accepted;
                }
                let body = content([("state", text(to.as_str())), ("reason", reason)]);
                outbox.queue(repos, tx, &peer, ("request.status", object(&link, version), body), now)?;
            }
            repos.federation.put_link(tx, &link)?;
        }
        _ => {}
    }
    Ok(())
}

/// Applies one checked message from `peer` inside the receiving write. `Err` of the inner
/// result refuses the message; it is then answered with that code and nothing of it is
/// written.
pub fn apply_tx(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    peer: &Peer,
    m: &Message,
    now: Timestamp,
) -> TxResult<Result<(), Refusal>> {
    if m.kind == "request.forward" {
        return forward_in(ctx, tx, peer, m, now);
    }
    let repos = &ctx.repos;
    let Some(id) = repos.federation.linked_tx(tx, &peer.base_url, &m.object.id)? else {
        return Ok(Err("unknown_object"));
    };
    // The request's link now: with this peer still (it may since have gone elsewhere).
    let Some(mut link) = repos.federation.link_tx(tx, id)?.filter(|l| l.peer == peer.base_url) else {
        return Ok(Err("unknown_object"));
    };
    let old = repos.requests.get_tx(tx, id)?;
    let mut new = old.clone();
    let actor = Actor::peer(&peer.base_url);
    let str_of = |k: &str| m.content.get(k).and_then(Value::as_str).map(str::to_owned);
    let change = match (m.kind.as_str(), link.side) {
        ("request.accept", Side::Origin) => {
            if link.state != LinkState::Pending {
                return Ok(Ok(()));
            }
            let due_at = match m.content.get("due_at") {
                Some(Value::Int(ms)) => Timestamp::from_millisecond(*ms).ok(),
                _ => None,
            };
            let Some(due_at) = due_at else {
                return Ok(Err("invalid_content"));
            };
            link.state = LinkState::Accepted;
            new.due_at = due_at;
            new.updated_at = now;
            Change::ForwardAccepted { by: peer.name.clone(), due_at }
        }
        ("request.reject", Side::Origin) => {
            if !link.state.is_live() {
                return Ok(Ok(()));
            }
            link.state = LinkState::Rejected;
            Change::ForwardRejected { by: peer.name.clone(), reason: str_of("reason").unwrap_or_default() }
        }
        ("request.status", Side::Origin) => {
            let Some(to) = str_of("state").as_deref().and_then(Status::parse) else {
                return Ok(Err("invalid_content"));
            };
            // Versions apply in order; an older one changes nothing.
            if !link.state.is_live() || m.object.version <= link.version {
                return Ok(Ok(()));
            }
            link.state = LinkState::Accepted;
            link.version = m.object.version;
            if new.status == to {
                repos.federation.put_link(tx, &link)?;
                return Ok(Ok(()));
            }
            new.follow_status(to, str_of("reason"), now, &ctx.settings.calendar)
        }
        ("request.comment", _) => {
            let Some(body) = str_of("body").filter(|b| !b.trim().is_empty() && b.len() <= 10_000) else {
                return Ok(Err("invalid_content"));
            };
            match new.comment(Visibility::Public, body, false, now) {
                Ok(change) => change,
                Err(_) => return Ok(Err("invalid_content")),
            }
        }
        ("request.withdraw", Side::Holder) => {
            if !link.state.is_live() {
                return Ok(Ok(()));
            }
            link.state = LinkState::Withdrawn;
            new.follow_status(Status::Closed, None, now, &ctx.settings.calendar);
            Change::Withdrawn { by: peer.name.clone() }
        }
        ("request.transfer", Side::Origin) => return transfer_in(ctx, tx, peer, m, (old, link), now),
        ("request.accept" | "request.reject" | "request.status" | "request.withdraw" | "request.transfer", _) => {
            return Ok(Err("not_authorized"));
        }
        _ => return Ok(Err("unsupported")),
    };
    commit_change_tx(ctx, tx, &actor, "federation.receive", &old, new, change, now)?;
    repos.federation.put_link(tx, &link)?;
    Ok(Ok(()))
}

/// The holder hands the request on to another body: forwarded there if it is an active
/// peer here (the citizen's request stays here, with its tracking code), else handled here
/// again.
fn transfer_in(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    holder: &Peer,
    m: &Message,
    (old, mut link): (Request, Link),
    now: Timestamp,
) -> TxResult<Result<(), Refusal>> {
    let repos = &ctx.repos;
    if !link.state.is_live() {
        return Ok(Ok(()));
    }
    let Some(to) = m.content.get("to").and_then(Value::as_str) else {
        return Ok(Err("invalid_content"));
    };
    let reason = m.content.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned();
    let actor = Actor::peer(&holder.base_url);
    link.state = LinkState::Rejected;
    repos.federation.put_link(tx, &link)?;
    let change = Change::ForwardRejected { by: holder.name.clone(), reason };
    let back = commit_change_tx(ctx, tx, &actor, "federation.receive", &old, old.clone(), change, now)?;
    let next = repos.peers.peer_tx(tx, to)?.filter(|p| p.status == PeerStatus::Active && p.base_url != holder.base_url);
    if let Some(next) = next {
        let change = forward_tx(&ctx.outbox, repos, tx, &back, &next, now)?;
        commit_change_tx(ctx, tx, &actor, "federation.receive", &back, back.clone(), change, now)?;
    }
    Ok(Ok(()))
}

/// A request forwarded here: recorded in the inbox with its origin, handled like any
/// other; the origin answers the citizen.
fn forward_in(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    peer: &Peer,
    m: &Message,
    now: Timestamp,
) -> TxResult<Result<(), Refusal>> {
    let repos = &ctx.repos;
    if repos.federation.linked_tx(tx, &peer.base_url, &m.object.id)?.is_some() {
        return Ok(Ok(()));
    }
    let c = &m.content;
    let field = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_str).unwrap_or("").to_owned();
    let wanted = field(Some(c), "category");
    let category = match repos.catalogue.category_tx(tx, &wanted)?.filter(|c| c.active) {
        Some(category) => category,
        None => match repos.catalogue.category_tx(tx, &ctx.settings.inbound_category)?.filter(|c| c.active) {
            Some(category) => category,
            None => return Ok(Err("unknown_category")),
        },
    };
    let contact = c.get("contact");
    let location = c.get("location").filter(|l| !matches!(l, Value::Null)).map(|l| {
        let coordinate = |k: &str| l.get(k).and_then(Value::as_str).and_then(|v| v.parse::<f64>().ok());
        Location {
            lat: coordinate("lat"),
            lon: coordinate("lon"),
            address: field(Some(l), "address"),
            insee_code: field(Some(l), "insee_code"),
        }
    });
    let mut input = NewRequest {
        category: category.id.clone(),
        subject: field(Some(c), "subject"),
        description: field(Some(c), "description"),
        contact: Contact {
            name: field(contact, "name"),
            email: field(contact, "email"),
            phone: field(contact, "phone"),
            postal_address: field(contact, "postal_address"),
        },
        location,
        // The origin keeps the citizen relationship: nothing is sent to them from here.
        notify: Some(Notify::None),
    };
    // What the category requires here was the origin's to ask.
    let mut relaxed = category.clone();
    relaxed.required.clear();
    if input.validate(&relaxed).is_err() {
        return Ok(Err("invalid_content"));
    }
    let mut code = TrackingCode::from_random(crate::service::random_u64()?);
    while repos.requests.tracking_code_taken(tx, &code)? {
        code = TrackingCode::from_random(crate::service::random_u64()?);
    }
    let actor = Actor::peer(&peer.base_url);
    let recording = Recording { actor: &actor, channel: Channel::Federation, received_at: now, recorded_by: None, now };
    let ids = (crate::service::mail::new_id()?, crate::service::mail::new_id()?);
    let (request, ..) = record_tx(ctx, tx, &recording, &input, &[], code, (&ids.0, &ids.1))?;
    let link = Link {
        request: request.id,
        side: Side::Holder,
        peer: peer.base_url.clone(),
        peer_name: peer.name.clone(),
        object: m.object.id.clone(),
        state: LinkState::Pending,
        version: 0,
    };
    repos.federation.put_link(tx, &link)?;
    super::files::want_tx(ctx, tx, peer, request.id, m)?;
    Ok(Ok(()))
}

#[cfg(test)]
mod tests;
