//! Shared topics (docs/federation.md, section 14). A topic's owner chooses the paired
//! instances taking part; they receive it (`topic.create`, again at each new version) and
//! every post written at any of them (`topic.post`, `topic.post.edit`,
//! `topic.post.delete`). The owner alone writes the topic, an author's instance alone its
//! posts; the highest version wins; a deletion is a tombstone. Each instance decides which
//! of its own people see a topic it takes part in, and may invite guests to it.

use jiff::Timestamp;

use super::canonical::Value;
use super::message::{Message, ObjectRef, is_base_url, is_object_id, mirror_id, owner_id};
use super::outbox::{Outbox, content, text};
use super::peer::Peer;
use super::roster::route_tx;
use super::shared::Refusal;
use crate::domain::actor::Actor;
use crate::domain::topic::{Confidentiality, Post, Revision, Topic, validate_body};
use crate::service::requests::WriteContext;
use crate::store::{Repos, Tx, TxResult};

pub const TOPIC: &str = "topic";
pub const POST: &str = "post";

/// A topic's id at its owner.
fn id_at_owner(topic: &Topic, me: &str) -> String {
    if topic.owner == me { topic.id.clone() } else { owner_id(&topic.owner, &topic.id).unwrap_or_default() }
}

/// A topic's owner, and its id there.
fn topic_ref(topic: &Topic, me: &str) -> Value {
    Value::Object(content([("owner", text(&topic.owner)), ("id", text(&id_at_owner(topic, me)))]))
}

/// A post's id at its author's instance.
fn post_id(post: &Post, me: &str) -> String {
    if post.owner == me { post.id.clone() } else { owner_id(&post.owner, &post.id).unwrap_or_default() }
}

/// Queues `message` for the instances taking part in `topic` (through their EPCI where
/// it relays).
fn to_participants_tx(
    (outbox, repos, tx): (&Outbox, &Repos, &Tx<'_>),
    topic: &Topic,
    message: (&'static str, ObjectRef, std::collections::BTreeMap<String, Value>),
    now: Timestamp,
) -> TxResult<()> {
    let me = outbox.base_url();
    let to = topic.participants(me);
    if to.is_empty() {
        return Ok(());
    }
    let route = route_tx(repos, tx, me, &to)?;
    if route.is_empty() {
        return Ok(());
    }
    outbox.queue_to(repos, tx, (&route, &to), message, now)
}

/// Inside the write of a topic of this instance: the instances taking part get it as it
/// now stands.
pub fn after_topic_tx(outbox: &Outbox, repos: &Repos, tx: &Tx<'_>, topic: &Topic, now: Timestamp) -> TxResult<()> {
    if topic.owner != outbox.base_url() || topic.instances.is_empty() {
        return Ok(());
    }
    let object = ObjectRef {
        kind: TOPIC.to_owned(),
        id: topic.id.clone(),
        version: i64::try_from(topic.version).unwrap_or(i64::MAX),
    };
    let instances = topic.instances.iter().map(|i| text(i)).collect();
    let message = content([
        ("title", text(&topic.title)),
        ("description", text(&topic.description)),
        ("instances", Value::Array(instances)),
    ]);
    to_participants_tx((outbox, repos, tx), topic, ("topic.create", object, message), now)
}

/// Inside the write of a post written here in a shared topic: the other instances taking
/// part get it (`author`: the author's name, as they will show it).
pub fn after_post_tx(
    outbox: &Outbox,
    repos: &Repos,
    tx: &Tx<'_>,
    (topic, post, author): (&Topic, &Post, &str),
    now: Timestamp,
) -> TxResult<()> {
    let me = outbox.base_url();
    if post.owner != me || topic.participants(me).is_empty() {
        return Ok(());
    }
    let object =
        ObjectRef { kind: POST.to_owned(), id: post_id(post, me), version: i64::try_from(post.version).unwrap_or(0) };
    let topic_ref = ("topic", topic_ref(topic, me));
    let (kind, message) = if post.deleted {
        ("topic.post.delete", content([topic_ref]))
    } else if post.version == 1 {
        ("topic.post", content([topic_ref, ("author", text(author)), ("body", text(&post.body))]))
    } else {
        ("topic.post.edit", content([topic_ref, ("body", text(&post.body))]))
    };
    to_participants_tx((outbox, repos, tx), topic, (kind, object, message), now)
}

/// Applies a `topic.*` message of `origin` (its author's instance, or the topic's owner).
pub fn apply_tx(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    origin: &Peer,
    m: &Message,
    me: &str,
    now: Timestamp,
) -> TxResult<Result<(), Refusal>> {
    let Ok(version) = u64::try_from(m.object.version) else { return Ok(Err("invalid_message")) };
    if version == 0 || !is_object_id(&m.object.id) {
        return Ok(Err("invalid_message"));
    }
    match (m.kind.as_str(), m.object.kind.as_str()) {
        ("topic.create", TOPIC) => apply_topic(ctx, tx, origin, m, (me, version), now),
        ("topic.post" | "topic.post.edit" | "topic.post.delete", POST) => {
            apply_post(ctx, tx, origin, m, (me, version), now)
        }
        _ => Ok(Err("invalid_message")),
    }
}

fn apply_topic(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    origin: &Peer,
    m: &Message,
    (me, version): (&str, u64),
    now: Timestamp,
) -> TxResult<Result<(), Refusal>> {
    let repos = &ctx.repos;
    let c = &m.content;
    let field = |name: &str| c.get(name).and_then(Value::as_str).map(str::to_owned);
    let instances = match c.get("instances") {
        Some(Value::Array(items)) if items.len() <= super::message::MAX_RECIPIENTS => items
            .iter()
            .map(|i| i.as_str().filter(|u| is_base_url(u) && *u != origin.base_url).map(str::to_owned))
            .collect::<Option<Vec<_>>>(),
        _ => None,
    };
    let (Some(title), Some(description), Some(instances)) = (field("title"), field("description"), instances) else {
        return Ok(Err("invalid_content"));
    };
    if !instances.iter().any(|i| i == me) {
        return Ok(Err("not_a_participant"));
    }
    let id = mirror_id(&origin.base_url, &m.object.id);
    let stored = repos.topics.topic_tx(tx, &id)?;
    // The highest version wins.
    if stored.as_ref().is_some_and(|t| t.version >= version) {
        return Ok(Ok(()));
    }
    let topic = match stored {
        // What this instance decided (who sees it here, requests it concerns) stays.
        Some(t) => Topic { title, description, instances, version, updated_at: now, ..t },
        None => Topic {
            id: id.clone(),
            title,
            description,
            owner: origin.base_url.clone(),
            version,
            confidentiality: Confidentiality::Open,
            members: Vec::new(),
            departments: Vec::new(),
            requests: Vec::new(),
            instances,
            posts: 0,
            created_by: Actor::peer(&origin.base_url).id,
            created_at: now,
            updated_at: now,
        },
    };
    if topic.validate().is_err() {
        return Ok(Err("invalid_content"));
    }
    repos.topics.put_topic(tx, &topic)?;
    let details = serde_json::json!({"title": topic.title, "version": topic.version});
    repos.audit.append(tx, now, &Actor::peer(&origin.base_url), "topic.receive", format!("topic:{id}"), details)?;
    Ok(Ok(()))
}

fn apply_post(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    origin: &Peer,
    m: &Message,
    (me, version): (&str, u64),
    now: Timestamp,
) -> TxResult<Result<(), Refusal>> {
    let repos = &ctx.repos;
    let c = &m.content;
    let reference = c.get("topic");
    let topic_field = |name: &str| reference.and_then(|t| t.get(name)).and_then(Value::as_str);
    let (Some(owner), Some(topic_id)) = (topic_field("owner"), topic_field("id")) else {
        return Ok(Err("invalid_content"));
    };
    let here = if owner == me { topic_id.to_owned() } else { mirror_id(owner, topic_id) };
    let Some(mut topic) = repos.topics.topic_tx(tx, &here)?.filter(|t| t.owner == owner) else {
        return Ok(Err("unknown_topic"));
    };
    // Only an instance taking part writes in it.
    if !(topic.owner == origin.base_url || topic.instances.contains(&origin.base_url)) {
        return Ok(Err("not_a_participant"));
    }
    let id = mirror_id(&origin.base_url, &m.object.id);
    let stored = repos.topics.post_by_id_tx(tx, &id)?;
    // The highest version wins; a deletion is final.
    if stored.as_ref().is_some_and(|p| p.version >= version || p.deleted) {
        return Ok(Ok(()));
    }
    let body = c.get("body").and_then(Value::as_str).map(|b| b.trim().replace("\r\n", "\n"));
    let post = match (m.kind.as_str(), stored) {
        ("topic.post", None) => {
            let author =
                c.get("author").and_then(Value::as_str).map(|a| a.trim().chars().take(200).collect::<String>());
            let (Some(body), Some(author)) = (body, author.filter(|a| !a.is_empty())) else {
                return Ok(Err("invalid_content"));
            };
            topic.posts += 1;
            topic.updated_at = now;
            repos.topics.put_topic(tx, &topic)?;
            Post {
                id: id.clone(),
                topic: topic.id.clone(),
                number: topic.posts,
                owner: origin.base_url.clone(),
                version,
                author: Actor::peer(&origin.base_url).id,
                author_name: Some(format!("{author} ({})", origin.name)),
                body,
                mentions: Vec::new(),
                files: Vec::new(),
                revisions: Vec::new(),
                deleted: false,
                created_at: now,
                updated_at: now,
            }
        }
        ("topic.post.edit", Some(mut post)) => {
            let Some(body) = body else { return Ok(Err("invalid_content")) };
            post.revisions.push(Revision { body: std::mem::replace(&mut post.body, body), until: now });
            Post { version, updated_at: now, ..post }
        }
        ("topic.post.delete", Some(mut post)) => {
            post.revisions.push(Revision { body: std::mem::take(&mut post.body), until: now });
            Post { version, deleted: true, updated_at: now, ..post }
        }
        // A post again, or a change of a post never received.
        ("topic.post", Some(_)) => return Ok(Ok(())),
        _ => return Ok(Err("unknown_post")),
    };
    if post.topic != topic.id || (!post.deleted && validate_body(&post.body).is_err()) {
        return Ok(Err("invalid_content"));
    }
    repos.topics.put_post(tx, &post)?;
    let details = serde_json::json!({"number": post.number, "version": post.version});
    repos.audit.append(tx, now, &Actor::peer(&origin.base_url), &m.kind, format!("topic:{}", topic.id), details)?;
    Ok(Ok(()))
}

/// What this instance holds of the topics it shares with `peer`, for the state hash: each
/// topic both take part in, by its owner and id there, with its version and title, and
/// each of its posts by its author's instance and id there, with its version, whether it
/// was deleted, and its text.
pub fn shared_topics(repos: &Repos, me: &str, peer: &str) -> crate::domain::Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for topic in repos.topics.topics()? {
        let all = topic.participants("");
        if !(all.iter().any(|u| u == me) && all.iter().any(|u| u == peer)) {
            continue;
        }
        let mut posts: Vec<(String, Value)> = repos
            .topics
            .posts(&topic.id)?
            .iter()
            .map(|p| {
                let state = Value::Array(vec![
                    Value::Int(i64::try_from(p.version).unwrap_or(i64::MAX)),
                    Value::Bool(p.deleted),
                    text(&p.body),
                ]);
                (format!("{}#{}", p.owner, post_id(p, me)), state)
            })
            .collect();
        posts.sort_by(|a, b| a.0.cmp(&b.0));
        let id = id_at_owner(&topic, me);
        let state = Value::Object(content([
            ("version", Value::Int(i64::try_from(topic.version).unwrap_or(i64::MAX))),
            ("title", text(&topic.title)),
            ("posts", Value::Object(posts.into_iter().collect())),
        ]));
        out.push((format!("{}#{id}", topic.owner), state));
    }
    Ok(out)
}
