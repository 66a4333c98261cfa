//! Topics ("thématiques"): long-running subjects (a budget, a works project, a photo
//! contest) with members, posts in Markdown, and the requests they concern. Like agenda
//! events, topics and posts have an owner instance and versions; an edited post keeps its
//! earlier texts, a deleted one stays as a tombstone (FEDERATION.md: `topic.create`,
//! `topic.post`, `topic.post.edit`, `topic.post.delete`; authors edit their own posts).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Error, Result};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_POST_CHARS: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Confidentiality {
    /// Every agent and elected official reads and writes.
    Open,
    /// Its members only (people and departments).
    Restricted,
}

impl Confidentiality {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidentiality::Open => "open",
            Confidentiality::Restricted => "restricted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Topic {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub owner: String,
    pub version: u64,
    pub confidentiality: Confidentiality,
    /// Account ids of the members (agents, elected officials).
    #[serde(default)]
    pub members: Vec<String>,
    /// Departments whose agents are members.
    #[serde(default)]
    pub departments: Vec<String>,
    /// Requests the topic concerns.
    #[serde(default)]
    pub requests: Vec<u64>,
    /// The other instances taking part (base URLs of paired collectivités): the topic and
    /// its posts go to them. At an instance that received it: every instance taking part
    /// but its owner.
    #[serde(default)]
    pub instances: Vec<String>,
    /// Posts written so far (tombstones included): the next post's number is one more.
    #[serde(default)]
    pub posts: u64,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Topic {
    /// Every instance taking part but `me`: where its messages go.
    pub fn participants(&self, me: &str) -> Vec<String> {
        let mut out: Vec<String> =
            std::iter::once(&self.owner).chain(&self.instances).filter(|u| *u != me).cloned().collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn validate(&self) -> Result<()> {
        if self.title.trim().is_empty() || self.title.chars().count() > MAX_TITLE_CHARS {
            return Err(Error::invalid("invalid_title", "title", "between 1 and 200 characters"));
        }
        if self.description.chars().count() > MAX_POST_CHARS {
            return Err(Error::invalid("too_long", "description", "at most 20,000 characters"));
        }
        Ok(())
    }
}

/// An earlier text of an edited post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Revision {
    pub body: String,
    pub until: Timestamp,
}

/// A file attached to a post, stored by its hash like a request's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PostFile {
    pub sha256: String,
    pub name: String,
    pub media_type: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Post {
    pub id: String,
    pub topic: String,
    /// Its number in the topic, from 1.
    pub number: u64,
    pub owner: String,
    pub version: u64,
    pub author: String,
    /// The author's name and instance, for a post written at another instance (whose
    /// accounts are not known here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    /// Markdown; empty once deleted.
    pub body: String,
    /// Account ids mentioned (`@marie.dupont`).
    #[serde(default)]
    pub mentions: Vec<String>,
    #[serde(default)]
    pub files: Vec<PostFile>,
    /// Earlier texts, oldest first.
    #[serde(default)]
    pub revisions: Vec<Revision>,
    /// A tombstone: the author deleted it.
    #[serde(default)]
    pub deleted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub fn validate_body(body: &str) -> Result<()> {
    if body.trim().is_empty() || body.chars().count() > MAX_POST_CHARS {
        return Err(Error::invalid("invalid_body", "body", "between 1 and 20,000 characters"));
    }
    Ok(())
}
