//! The EPCI's roster (docs/federation.md, section 13). An EPCI sends its members the list
//! of its members, with their keys, and the categories it handles (`roster.update`, the
//! newest version wins); a member that stops being one is told (`roster.remove`). A member
//! pins the others' keys from it, so members talk to each other directly, and accepts the
//! topic messages of another member that its EPCI relays: the EPCI passes on, as signed by
//! their origin, the messages a member addressed to it and to other members.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::canonical::Value;
use super::message::{Message, ObjectRef, PinnedKey, is_base_url};
use super::outbox::{Outbox, content, text};
use super::peer::{Peer, PeerKey, PeerStatus};
use super::records::{Roster, RosterMember};
use super::shared::Refusal;
use crate::domain::actor::Actor;
use crate::domain::agenda::{Agenda, Event};
use crate::service::requests::WriteContext;
use crate::store::{Repos, Tx, TxResult};

pub const ROSTER: &str = "roster";
/// The one roster object of an EPCI.
const MEMBERS: &str = "members";
/// Categories of requests: id, label.
pub type Categories = Vec<(String, String)>;

/// Instances a roster lists at most.
const MAX_MEMBERS: usize = 100;

/// Whether an EPCI may relay messages of this type (those of shared topics, which go to
/// several instances at once).
pub fn relayable_type(kind: &str) -> bool {
    kind.starts_with("topic.")
}

/// What an EPCI's roster says of a member.
fn entry(peer: &Peer) -> Value {
    let current = peer.keys.iter().filter(|k| k.retired_at.is_none());
    let keys = current.map(|k| (k.id.clone(), text(&k.public_key))).collect();
    Value::Object(content([
        ("base_url", text(&peer.base_url)),
        ("name", text(&peer.name)),
        ("kind", text(&peer.kind)),
        ("code", text(&peer.code)),
        ("keys", Value::Object(keys)),
    ]))
}

/// Inside a write at an EPCI that may have changed its members or their keys: sends the
/// roster as it now stands to every member, and `roster.remove` to `left` (a peer that
/// stopped being a member in this write). `candidates`: every peer, read before the write
/// (each is read again in it); `competences`: the categories this instance handles.
pub fn changed_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    (candidates, competences): (&[String], &[(String, String)]),
    left: Option<&str>,
    now: Timestamp,
) -> TxResult<()> {
    let mut members = Vec::new();
    for url in candidates {
        if let Some(peer) = repos.peers.peer_tx(tx, url)?
            && peer.member
            && peer.status == PeerStatus::Active
        {
            members.push(peer);
        }
    }
    let version = i64::try_from(repos.meta.next(tx, "roster_version")?).unwrap_or(i64::MAX);
    let object = ObjectRef { kind: ROSTER.to_owned(), id: MEMBERS.to_owned(), version };
    if let Some(url) = left {
        outbox.queue(repos, tx, url, ("roster.remove", object.clone(), BTreeMap::new()), now)?;
    }
    let categories = competences
        .iter()
        .map(|(id, name)| Value::Object(content([("category", text(id)), ("name", text(name))])))
        .collect();
    let roster = content([
        ("members", Value::Array(members.iter().map(entry).collect())),
        ("competences", Value::Array(categories)),
    ]);
    for member in &members {
        outbox.queue(repos, tx, &member.base_url, ("roster.update", object.clone(), roster.clone()), now)?;
    }
    Ok(())
}

/// A roster member as the message lists it; `None` if malformed.
fn parse_member(value: &Value) -> Option<RosterMember> {
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(|s| s.chars().take(200).collect::<String>());
    let base_url = field("base_url").filter(|u| is_base_url(u))?;
    let Some(Value::Object(keys)) = value.get("keys") else { return None };
    let keys = keys
        .iter()
        .map(|(id, key)| {
            let encoded = key.as_str()?;
            let public = super::keys::public_key(encoded)?;
            (super::keys::key_id(&public) == *id).then(|| (id.clone(), encoded.to_owned()))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|k| !k.is_empty())?;
    Some(RosterMember { base_url, name: field("name")?, kind: field("kind")?, code: field("code")?, keys })
}

/// What a roster says: its members and the EPCI's categories; `None` if malformed.
fn parse(c: &Value) -> Option<(Vec<RosterMember>, Categories)> {
    let Some(Value::Array(members)) = c.get("members") else { return None };
    let Some(Value::Array(competences)) = c.get("competences") else { return None };
    if members.len() > MAX_MEMBERS || competences.len() > 1000 {
        return None;
    }
    let members = members.iter().map(parse_member).collect::<Option<Vec<_>>>()?;
    let competences = competences
        .iter()
        .map(|c| {
            let field = |name: &str| c.get(name).and_then(Value::as_str).map(|s| s.chars().take(200).collect());
            Some((field("category")?, field("name")?))
        })
        .collect::<Option<Vec<_>>>()?;
    let distinct: BTreeSet<&str> = members.iter().map(|m| m.base_url.as_str()).collect();
    (distinct.len() == members.len()).then_some((members, competences))
}

/// The peer here for a roster member vouched by `epci`: created, or brought up to date
/// (keys the roster no longer lists are retired from `since`). `None`: a peer paired
/// directly, or vouched by another EPCI, which the roster does not touch.
fn vouched(existing: Option<Peer>, member: &RosterMember, epci: &str, (since, now): (i64, Timestamp)) -> Option<Peer> {
    let listed = |id: &str| member.keys.iter().any(|(k, _)| k == id);
    let mut peer = match existing {
        None => Peer {
            base_url: member.base_url.clone(),
            name: String::new(),
            kind: String::new(),
            code: String::new(),
            keys: Vec::new(),
            status: PeerStatus::Active,
            short_code: String::new(),
            invited_by_us: false,
            created_at: now,
            updated_at: now,
            key_document: String::new(),
            vouched_by: Some(epci.to_owned()),
            member: false,
        },
        Some(p) if p.vouched_by.as_deref() == Some(epci) => p,
        Some(_) => return None,
    };
    for key in &mut peer.keys {
        if key.retired_at.is_none() && !listed(&key.id) {
            key.retired_at = Some(since);
        }
    }
    for (id, public_key) in &member.keys {
        if !peer.keys.iter().any(|k| k.id == *id) {
            peer.keys.push(PeerKey { id: id.clone(), public_key: public_key.clone(), retired_at: None });
        }
    }
    peer.name.clone_from(&member.name);
    peer.kind.clone_from(&member.kind);
    peer.code.clone_from(&member.code);
    peer.status = PeerStatus::Active;
    peer.updated_at = now;
    Some(peer)
}

/// Applies an EPCI's `roster.update` or `roster.remove`. `shared`: the events of the
/// agendas shared from here, which a member newly known gets.
pub fn apply_tx(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    epci: &Peer,
    m: &Message,
    (me, shared): (&str, &[(Agenda, Event)]),
    now: Timestamp,
) -> TxResult<Result<(), Refusal>> {
    let repos = &ctx.repos;
    if epci.kind != "epci" || epci.vouched_by.is_some() {
        return Ok(Err("not_an_epci"));
    }
    if m.object.id != MEMBERS {
        return Ok(Err("invalid_message"));
    }
    let stored = repos.federation.roster_tx(tx, &epci.base_url)?;
    // The newest roster wins.
    if stored.as_ref().is_some_and(|r| r.version >= m.object.version) {
        return Ok(Ok(()));
    }
    let (members, competences) = match m.kind.as_str() {
        "roster.update" => match parse(&m.content) {
            Some((members, _)) if !members.iter().any(|m| m.base_url == me) => return Ok(Err("not_a_member")),
            Some(parsed) => parsed,
            None => return Ok(Err("invalid_content")),
        },
        "roster.remove" => (Vec::new(), Vec::new()),
        _ => return Ok(Err("unsupported")),
    };
    let others = |m: &&RosterMember| m.base_url != me && m.base_url != epci.base_url;
    let mut new_links = Vec::new();
    for member in members.iter().filter(others) {
        let existing = repos.peers.peer_tx(tx, &member.base_url)?;
        let was_active = existing.as_ref().is_some_and(|p| p.status == PeerStatus::Active);
        if let Some(peer) = vouched(existing, member, &epci.base_url, (m.created_at, now)) {
            repos.peers.put_peer(tx, &peer)?;
            if !was_active {
                new_links.push(peer.base_url);
            }
        }
    }
    // Those no longer listed: frozen, nothing deleted.
    let listed: BTreeSet<&str> = members.iter().map(|m| m.base_url.as_str()).collect();
    for gone in stored.iter().flat_map(|r| &r.members).filter(|m| !listed.contains(m.base_url.as_str())) {
        if let Some(peer) = repos.peers.peer_tx(tx, &gone.base_url)?
            && peer.vouched_by.as_deref() == Some(&epci.base_url)
            && peer.status == PeerStatus::Active
        {
            repos.peers.put_peer(tx, &Peer { status: PeerStatus::Revoked, updated_at: now, ..peer })?;
        }
    }
    super::agendas::share_all_tx(&ctx.outbox, repos, tx, (&new_links, shared), now)?;
    let roster = Roster {
        epci: epci.base_url.clone(),
        version: m.object.version,
        members,
        competences,
        received_at: now.as_millisecond(),
    };
    repos.federation.put_roster(tx, &roster)?;
    let details = serde_json::json!({
        "version": roster.version,
        "members": roster.members.iter().map(|m| &m.base_url).collect::<Vec<_>>(),
    });
    let action = if m.kind == "roster.remove" { "federation.roster_remove" } else { "federation.roster_update" };
    repos.audit.append(tx, now, &Actor::peer(&epci.base_url), action, format!("peer:{}", epci.base_url), details)?;
    Ok(Ok(()))
}

/// The keys pinned here for each instance whose topic messages `sender` may relay: the
/// other members its roster lists, when it is an EPCI that sent this instance one.
pub(super) fn relayable(
    repos: &Repos,
    sender: &Peer,
    me: &str,
) -> crate::domain::Result<BTreeMap<String, BTreeMap<String, PinnedKey>>> {
    if sender.kind != "epci" || sender.vouched_by.is_some() {
        return Ok(BTreeMap::new());
    }
    let Some(roster) = repos.federation.roster(&sender.base_url)? else { return Ok(BTreeMap::new()) };
    let mut out = BTreeMap::new();
    for member in roster.members.iter().filter(|m| m.base_url != me && m.base_url != sender.base_url) {
        if let Some(peer) = repos.peers.peer(&member.base_url)?.filter(|p| p.status == PeerStatus::Active) {
            out.insert(peer.base_url.clone(), peer.pinned_keys());
        }
    }
    Ok(out)
}

/// At an EPCI, in the write applying `m` received from its origin: passes it on, as
/// signed, to its other recipients that are members here.
pub(super) fn relay_tx(ctx: &WriteContext, tx: &Tx<'_>, m: &Message, me: &str) -> TxResult<usize> {
    if !relayable_type(&m.kind) {
        return Ok(0);
    }
    let mut relayed = 0;
    for url in m.to.iter().filter(|t| *t != me && **t != m.origin) {
        if ctx.repos.peers.peer_tx(tx, url)?.is_some_and(|p| p.member && p.status == PeerStatus::Active) {
            ctx.outbox.pass_on(&ctx.repos, tx, url, m)?;
            relayed += 1;
        }
    }
    Ok(relayed)
}

/// Where a message for the recipients `to` goes from here: to each recipient that is an
/// active peer, except those an EPCI among the recipients relays (the members its roster
/// lists): one copy to the EPCI instead of one to each.
pub(super) fn route_tx(repos: &Repos, tx: &Tx<'_>, me: &str, to: &[String]) -> TxResult<Vec<String>> {
    let mut through_epci: BTreeSet<String> = BTreeSet::new();
    let mut route = Vec::new();
    for url in to {
        if let Some(roster) = repos.federation.roster_tx(tx, url)?
            && roster.members.iter().any(|m| m.base_url == me)
            && repos.peers.is_active_tx(tx, url)?
        {
            through_epci.extend(roster.members.iter().map(|m| m.base_url.clone()));
            route.push(url.clone());
        }
    }
    for url in to {
        if url != me && !route.contains(url) && !through_epci.contains(url) && repos.peers.is_active_tx(tx, url)? {
            route.push(url.clone());
        }
    }
    Ok(route)
}

/// What an EPCI's roster is made from, read before the write that sends it: every peer
/// (each read again in the write), and the categories of requests handled here.
pub fn inputs(repos: &Repos) -> crate::domain::Result<(Vec<String>, Categories)> {
    let peers = repos.peers.peers()?.into_iter().map(|p| p.base_url).collect();
    let categories = repos.catalogue.categories()?.into_iter().filter(|c| c.active && c.public);
    Ok((peers, categories.map(|c| (c.id, c.name)).collect()))
}

/// The roster shared with `peer`, for the state hash: at an EPCI, the one it sends `peer`
/// if it is a member; at a member, the one `peer` sent. Each member by its base URL, with
/// its current key ids.
pub fn shared_roster(repos: &Repos, peer: &str) -> crate::domain::Result<Option<Value>> {
    let listed = |members: Vec<(String, Vec<String>)>| {
        let entries = members
            .into_iter()
            .map(|(url, mut keys)| {
                keys.sort();
                (url, Value::Array(keys.into_iter().map(Value::String).collect()))
            })
            .collect();
        Some(Value::Object(entries))
    };
    if let Some(roster) = repos.federation.roster(peer)? {
        if roster.members.is_empty() {
            return Ok(None);
        }
        let members = roster.members.into_iter().map(|m| (m.base_url, m.keys.into_iter().map(|(id, _)| id).collect()));
        return Ok(listed(members.collect()));
    }
    let is_member = repos.peers.peer(peer)?.is_some_and(|p| p.member && p.status == PeerStatus::Active);
    if !is_member {
        return Ok(None);
    }
    let members = repos.peers.active()?.into_iter().filter(|p| p.member).map(|p| {
        let keys = p.keys.iter().filter(|k| k.retired_at.is_none()).map(|k| k.id.clone()).collect();
        (p.base_url, keys)
    });
    Ok(listed(members.collect()))
}
