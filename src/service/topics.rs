//! Topics and their posts: who sees a topic (open to every agent and elected official, or
//! restricted to its members and departments; guests only the topics they were invited to),
//! posts in Markdown with mentions and files, edits kept as revisions, deletions as
//! tombstones, unread markers, subscriptions, search, links to requests. Every change is
//! written with its audit entry.

use std::sync::Arc;

use super::Core;
use super::agendas::{fold, search_words};
use super::permission::{Action, require};
use super::requests::NewAttachment;
use super::sessions::guest_topics;
use crate::domain::account::Scope;
use crate::domain::actor::{Actor, ActorKind, Role};
use crate::domain::markdown;
use crate::domain::topic::{Confidentiality, Post, PostFile, Revision, Topic, validate_body};
use crate::domain::{Error, Result};
use crate::federation::{PeerStatus, after_post_tx, after_topic_tx};

/// What is typed when opening or changing a topic.
#[derive(Debug, Clone)]
pub struct TopicDraft {
    pub title: String,
    pub description: String,
    pub confidentiality: Confidentiality,
    pub members: Vec<String>,
    pub departments: Vec<String>,
    pub requests: Vec<u64>,
    /// Paired instances taking part (base URLs).
    pub instances: Vec<String>,
}

/// A topic as listed for someone: with what they have not read yet.
#[derive(Debug, Clone)]
pub struct Listed {
    pub topic: Topic,
    pub unread: u64,
    pub subscribed: bool,
}

/// A post found by a search.
#[derive(Debug, Clone)]
pub struct Found {
    pub topic: Topic,
    pub post: Option<Post>,
}

#[derive(Clone)]
pub struct TopicService {
    core: Arc<Core>,
}

impl TopicService {
    pub fn new(core: Arc<Core>) -> Self {
        TopicService { core }
    }

    fn owner(&self) -> String {
        self.core.settings.public_url.clone()
    }

    /// The topics a guest may see now.
    fn invited(&self, actor: &Actor) -> Result<Vec<String>> {
        Ok(guest_topics(&actor.id, &self.core.repos.accounts.guests()?, self.core.clock.now()))
    }

    /// Whether `actor` sees `topic`; `invited`: the guest's topics.
    fn sees(actor: &Actor, topic: &Topic, invited: &[String]) -> bool {
        match (actor.kind, actor.role) {
            (ActorKind::System, _) => true,
            (ActorKind::Agent, Some(Role::Guest)) => invited.contains(&topic.id),
            (ActorKind::Agent, Some(role)) if super::permission::allowed(role, Action::ReadTopics) => {
                topic.confidentiality == Confidentiality::Open
                    || role == Role::Admin
                    || topic.created_by == actor.id
                    || topic.members.contains(&actor.id)
                    || matches!(&actor.scope, Scope::Departments(ids) if ids.iter().any(|d| topic.departments.contains(d)))
            }
            _ => false,
        }
    }

    /// Whether `actor` may change the topic itself (title, members): its creator or an admin.
    pub fn can_manage(actor: &Actor, topic: &Topic) -> bool {
        actor.kind == ActorKind::System || topic.created_by == actor.id || actor.role == Some(Role::Admin)
    }

    /// A topic `actor` sees; others read as not found.
    pub fn topic(&self, actor: &Actor, id: &str) -> Result<Topic> {
        require(actor, Action::ReadTopics)?;
        let topic = self.core.repos.topics.topic(id)?.ok_or(Error::not_found("topic"))?;
        let invited = if actor.role == Some(Role::Guest) { self.invited(actor)? } else { Vec::new() };
        if Self::sees(actor, &topic, &invited) { Ok(topic) } else { Err(Error::not_found("topic")) }
    }

    /// Every topic `actor` sees, most recently active first, with unread counts.
    pub fn topics(&self, actor: &Actor) -> Result<Vec<Listed>> {
        require(actor, Action::ReadTopics)?;
        let invited = if actor.role == Some(Role::Guest) { self.invited(actor)? } else { Vec::new() };
        let repo = &self.core.repos.topics;
        let mut out = Vec::new();
        for topic in repo.topics()? {
            if !Self::sees(actor, &topic, &invited) {
                continue;
            }
            let unread = topic.posts.saturating_sub(repo.last_read(&actor.id, &topic.id)?);
            let subscribed = repo.subscribed(&actor.id, &topic.id)?;
            out.push(Listed { topic, unread, subscribed });
        }
        out.sort_by_key(|l| std::cmp::Reverse(l.topic.updated_at));
        Ok(out)
    }

    /// The posts of a topic (tombstones included), and the number of the last one `actor`
    /// had read before (to mark what is new).
    pub fn posts(&self, actor: &Actor, topic: &str) -> Result<(Topic, Vec<Post>, u64)> {
        let topic = self.topic(actor, topic)?;
        let read = self.core.repos.topics.last_read(&actor.id, &topic.id)?;
        Ok((topic.clone(), self.core.repos.topics.posts(&topic.id)?, read))
    }

    /// Notes that `actor` has read the topic up to its last post.
    pub async fn mark_read(&self, actor: &Actor, topic: &Topic) -> Result<()> {
        if actor.kind != ActorKind::Agent || self.core.repos.topics.last_read(&actor.id, &topic.id)? >= topic.posts {
            return Ok(());
        }
        let (repos, who, id, last) = (self.core.repos.clone(), actor.id.clone(), topic.id.clone(), topic.posts);
        self.core.store.write(move |tx| repos.topics.set_last_read(tx, &who, &id, last)).await
    }

    pub async fn subscribe(&self, actor: &Actor, topic: &str, on: bool) -> Result<()> {
        let topic = self.topic(actor, topic)?;
        let (repos, who, id, now) = (self.core.repos.clone(), actor.clone(), topic.id.clone(), self.core.clock.now());
        let action = if on { "topic.subscribe" } else { "topic.unsubscribe" };
        self.core
            .store
            .write(move |tx| {
                repos.topics.set_subscribed(tx, &who.id, &id, on)?;
                repos.audit.append(tx, now, &who, action, format!("topic:{id}"), serde_json::Value::Null)?;
                Ok(())
            })
            .await
    }

    fn check_draft(&self, draft: &TopicDraft) -> Result<()> {
        for id in &draft.members {
            if self.core.repos.accounts.get(id)?.is_none() {
                return Err(Error::invalid("unknown_member", "members", "no such account"));
            }
        }
        for id in &draft.departments {
            if self.core.repos.catalogue.department(id)?.is_none() {
                return Err(Error::invalid("unknown_department", "departments", "no such department"));
            }
        }
        for id in &draft.requests {
            if self.core.repos.requests.get(*id)?.is_none() {
                return Err(Error::invalid("unknown_request", "requests", "no such request"));
            }
        }
        for url in &draft.instances {
            let active = self.core.repos.peers.peer(url)?.is_some_and(|p| p.status == PeerStatus::Active);
            if !active || *url == self.owner() {
                return Err(Error::invalid("unknown_instance", "instances", "not a paired collectivité"));
            }
        }
        Ok(())
    }

    pub async fn create(&self, actor: &Actor, draft: TopicDraft) -> Result<Topic> {
        require(actor, Action::CreateTopics)?;
        self.check_draft(&draft)?;
        let now = self.core.clock.now();
        let topic = Topic {
            id: format!("top-{:016x}", super::random_u64()?),
            title: draft.title.trim().to_owned(),
            description: draft.description.trim().replace("\r\n", "\n"),
            owner: self.owner(),
            version: 1,
            confidentiality: draft.confidentiality,
            members: draft.members,
            departments: draft.departments,
            requests: draft.requests,
            instances: draft.instances,
            posts: 0,
            created_by: actor.id.clone(),
            created_at: now,
            updated_at: now,
        };
        topic.validate()?;
        let (repos, who, outbox) = (self.core.repos.clone(), actor.clone(), self.core.outbox.clone());
        let topic = self
            .core
            .store
            .write(move |tx| {
                repos.topics.put_topic(tx, &topic)?;
                after_topic_tx(&outbox, &repos, tx, &topic, now)?;
                repos.topics.set_subscribed(tx, &who.id, &topic.id, true)?;
                let details = serde_json::json!({"title": topic.title, "confidentiality": topic.confidentiality});
                repos.audit.append(tx, now, &who, "topic.create", format!("topic:{}", topic.id), details)?;
                Ok(topic.clone())
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(topic)
    }

    /// Changes a topic's title, description, confidentiality, members and requests.
    /// Changes a topic; `expected_version` (the version the form was made from) refuses a
    /// change made meanwhile by someone else, rather than silently undoing it.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        draft: TopicDraft,
        expected_version: Option<u64>,
    ) -> Result<Topic> {
        let current = self.topic(actor, id)?;
        if !Self::can_manage(actor, &current) {
            return Err(Error::Forbidden);
        }
        // A topic received from another instance: only who sees it here, and the requests
        // it concerns here, are this instance's to change.
        let own = current.owner == self.owner();
        let mut draft = draft;
        if !own {
            draft.instances.clear();
        }
        self.check_draft(&draft)?;
        let changed = Topic {
            title: draft.title.trim().to_owned(),
            description: draft.description.trim().replace("\r\n", "\n"),
            confidentiality: draft.confidentiality,
            members: draft.members,
            departments: draft.departments,
            requests: draft.requests,
            instances: draft.instances,
            ..current
        };
        if own {
            changed.validate()?;
        }
        let (repos, who, now, outbox) =
            (self.core.repos.clone(), actor.clone(), self.core.clock.now(), self.core.outbox.clone());
        let topic = self
            .core
            .store
            .write(move |tx| {
                let stored = repos.topics.topic_tx(tx, &changed.id)?.ok_or(Error::not_found("topic"))?;
                if expected_version.is_some_and(|v| v != stored.version) {
                    return Err(Error::conflict("changed_meanwhile", "the topic was changed meanwhile").into());
                }
                // Posts may have arrived meanwhile: their count is the stored one. A topic
                // received from its owner keeps what the owner wrote (title, text, the
                // instances taking part, version), as stored now.
                let topic = if own {
                    Topic { version: stored.version + 1, posts: stored.posts, updated_at: now, ..changed.clone() }
                } else {
                    Topic {
                        confidentiality: changed.confidentiality,
                        members: changed.members.clone(),
                        departments: changed.departments.clone(),
                        requests: changed.requests.clone(),
                        updated_at: now,
                        ..stored
                    }
                };
                repos.topics.put_topic(tx, &topic)?;
                after_topic_tx(&outbox, &repos, tx, &topic, now)?;
                let details = serde_json::json!({"title": topic.title, "version": topic.version});
                repos.audit.append(tx, now, &who, "topic.update", format!("topic:{}", topic.id), details)?;
                Ok(topic)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(topic)
    }

    /// Accounts mentioned in `body` (by the local part of their e-mail address) who see
    /// the topic.
    fn mentioned(&self, body: &str, topic: &Topic) -> Result<Vec<String>> {
        let names = markdown::mentions(body);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let guests = self.core.repos.accounts.guests()?;
        let now = self.core.clock.now();
        let mut out = Vec::new();
        for account in self.core.repos.accounts.all()? {
            let local = account.email.split('@').next().unwrap_or_default().to_lowercase();
            if !names.contains(&local) || !account.usable_at(now) {
                continue;
            }
            let actor = Actor::account(account.id.clone(), account.role, account.scope.clone(), false);
            if Self::sees(&actor, topic, &guest_topics(&account.id, &guests, now)) {
                out.push(account.id);
            }
        }
        Ok(out)
    }

    /// A new post, with its files (already in the file store), numbered after the last.
    pub async fn post(&self, actor: &Actor, topic: &str, body: String, files: Vec<NewAttachment>) -> Result<Post> {
        require(actor, Action::PostInTopics)?;
        let topic = self.topic(actor, topic)?;
        validate_body(&body)?;
        let body = body.trim().replace("\r\n", "\n");
        let mentions = self.mentioned(&body, &topic)?;
        let files: Vec<PostFile> = files
            .iter()
            .map(|f| PostFile {
                sha256: f.file.sha256.clone(),
                name: f.name.clone(),
                media_type: f.file.media_type.to_owned(),
                size: f.file.size,
            })
            .collect();
        let (repos, who, now, owner) = (self.core.repos.clone(), actor.clone(), self.core.clock.now(), self.owner());
        let post_id = format!("pst-{:016x}", super::random_u64()?);
        let (outbox, author) = (self.core.outbox.clone(), self.author_name(actor)?);
        let post = self
            .core
            .store
            .write(move |tx| {
                let mut topic = repos.topics.topic_tx(tx, &topic.id)?.ok_or(Error::not_found("topic"))?;
                topic.posts += 1;
                topic.updated_at = now;
                let post = Post {
                    id: post_id.clone(),
                    topic: topic.id.clone(),
                    number: topic.posts,
                    owner: owner.clone(),
                    version: 1,
                    author: who.id.clone(),
                    author_name: None,
                    body: body.clone(),
                    mentions: mentions.clone(),
                    files: files.clone(),
                    revisions: Vec::new(),
                    deleted: false,
                    created_at: now,
                    updated_at: now,
                };
                repos.topics.put_topic(tx, &topic)?;
                repos.topics.put_post(tx, &post)?;
                after_post_tx(&outbox, &repos, tx, (&topic, &post, &author), now)?;
                // The author has read what they wrote.
                repos.topics.set_last_read(tx, &who.id, &topic.id, topic.posts)?;
                let details =
                    serde_json::json!({"number": post.number, "mentions": post.mentions, "files": post.files.len()});
                repos.audit.append(tx, now, &who, "topic.post", format!("topic:{}", topic.id), details)?;
                Ok(post)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(post)
    }

    /// How other instances show `actor` as an author.
    fn author_name(&self, actor: &Actor) -> Result<String> {
        Ok(self.core.repos.accounts.get(&actor.id)?.map_or_else(|| actor.id.clone(), |a| a.display_name()))
    }

    /// Changes the text of one's own post; the previous text is kept as a revision.
    pub async fn edit_post(&self, actor: &Actor, topic: &str, number: u64, body: String) -> Result<Post> {
        require(actor, Action::PostInTopics)?;
        let topic = self.topic(actor, topic)?;
        validate_body(&body)?;
        let body = body.trim().replace("\r\n", "\n");
        let mentions = self.mentioned(&body, &topic)?;
        let (repos, who, now, outbox) =
            (self.core.repos.clone(), actor.clone(), self.core.clock.now(), self.core.outbox.clone());
        let post = self
            .core
            .store
            .write(move |tx| {
                let mut post = repos.topics.post_tx(tx, &topic.id, number)?.ok_or(Error::not_found("post"))?;
                if post.author != who.id {
                    return Err(Error::Forbidden.into());
                }
                if post.deleted {
                    return Err(Error::conflict("deleted", "the post was deleted").into());
                }
                post.revisions.push(Revision { body: std::mem::take(&mut post.body), until: now });
                post.body = body.clone();
                post.mentions = mentions.clone();
                post.version += 1;
                post.updated_at = now;
                repos.topics.put_post(tx, &post)?;
                after_post_tx(&outbox, &repos, tx, (&topic, &post, ""), now)?;
                let details = serde_json::json!({"number": number, "version": post.version});
                repos.audit.append(tx, now, &who, "topic.post.edit", format!("topic:{}", topic.id), details)?;
                Ok(post)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(post)
    }

    /// Deletes a post (its author, or an admin): a tombstone stays in its place.
    pub async fn delete_post(&self, actor: &Actor, topic: &str, number: u64) -> Result<Post> {
        require(actor, Action::PostInTopics)?;
        let topic = self.topic(actor, topic)?;
        let (repos, who, now, outbox) =
            (self.core.repos.clone(), actor.clone(), self.core.clock.now(), self.core.outbox.clone());
        let me = self.owner();
        let post = self
            .core
            .store
            .write(move |tx| {
                let mut post = repos.topics.post_tx(tx, &topic.id, number)?.ok_or(Error::not_found("post"))?;
                // An admin deletes posts written here; another instance's are its own.
                if post.author != who.id && (who.role != Some(Role::Admin) || post.owner != me) {
                    return Err(Error::Forbidden.into());
                }
                if post.deleted {
                    return Err(Error::conflict("deleted", "the post was deleted").into());
                }
                post.revisions.push(Revision { body: std::mem::take(&mut post.body), until: now });
                post.deleted = true;
                post.mentions.clear();
                post.version += 1;
                post.updated_at = now;
                repos.topics.put_post(tx, &post)?;
                after_post_tx(&outbox, &repos, tx, (&topic, &post, ""), now)?;
                let details = serde_json::json!({"number": number, "version": post.version});
                repos.audit.append(tx, now, &who, "topic.post.delete", format!("topic:{}", topic.id), details)?;
                Ok(post)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(post)
    }

    /// A file of a post of a topic `actor` sees.
    pub fn file(&self, actor: &Actor, topic: &str, sha256: &str) -> Result<PostFile> {
        let topic = self.topic(actor, topic)?;
        let posts = self.core.repos.topics.posts(&topic.id)?;
        posts
            .into_iter()
            .filter(|p| !p.deleted)
            .flat_map(|p| p.files)
            .find(|f| f.sha256 == sha256)
            .ok_or(Error::not_found("file"))
    }

    /// Topics and posts containing every word of `query`, among the topics `actor` sees.
    pub fn search(&self, actor: &Actor, query: &str) -> Result<Vec<Found>> {
        let words = search_words(query);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for listed in self.topics(actor)? {
            let topic = listed.topic;
            if words.iter().all(|w| fold(&format!("{} {}", topic.title, topic.description)).contains(w)) {
                out.push(Found { topic: topic.clone(), post: None });
            }
            for post in self.core.repos.topics.posts(&topic.id)? {
                if !post.deleted && words.iter().all(|w| fold(&post.body).contains(w)) {
                    out.push(Found { topic: topic.clone(), post: Some(post) });
                }
            }
        }
        Ok(out)
    }

    /// The guests invited to a topic, by name, while their invitation runs.
    pub fn guests(&self, actor: &Actor, topic: &str) -> Result<Vec<String>> {
        let topic = self.topic(actor, topic)?;
        let now = self.core.clock.now();
        Ok(self
            .core
            .repos
            .accounts
            .guests()?
            .into_iter()
            .filter(|g| {
                g.status == crate::domain::account::GuestStatus::Approved
                    && now < g.ends_at
                    && g.invitation == crate::domain::account::Invitation::Topic(topic.id.clone())
            })
            .map(|g| g.name)
            .collect())
    }

    /// The topics `actor` sees that concern request `id`.
    pub fn about_request(&self, actor: &Actor, id: u64) -> Result<Vec<Topic>> {
        if require(actor, Action::ReadTopics).is_err() {
            return Ok(Vec::new());
        }
        Ok(self.topics(actor)?.into_iter().map(|l| l.topic).filter(|t| t.requests.contains(&id)).collect())
    }
}
