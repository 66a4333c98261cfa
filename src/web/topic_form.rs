//! The topic form: its values as typed or taken from a topic, what they make for the
//! service, the problem a refusal shows beside which field, and the paired instances a
//! topic can be shared with.

use crate::domain::Error;
use crate::domain::actor::{Actor, Role};
use crate::domain::topic::{Confidentiality, Topic};
use crate::service::permission::{Action, require};
use crate::service::topics::TopicDraft;

use super::AppState;

/// The topic form's values, typed or from a topic.
#[derive(Debug, Default, Clone)]
pub(super) struct TopicForm {
    pub(super) title: String,
    pub(super) description: String,
    pub(super) confidentiality: String,
    pub(super) members: Vec<String>,
    pub(super) departments: Vec<String>,
    pub(super) requests: String,
    /// Paired instances taking part (base URLs).
    pub(super) instances: Vec<String>,
    /// A topic received from another instance: its title and text are not changed here.
    pub(super) received: bool,
    /// The version the form was made from (0 for a new topic).
    pub(super) version: u64,
}

impl TopicForm {
    pub(super) fn of(t: &Topic) -> TopicForm {
        TopicForm {
            title: t.title.clone(),
            description: t.description.clone(),
            confidentiality: t.confidentiality.as_str().to_owned(),
            members: t.members.clone(),
            departments: t.departments.clone(),
            requests: t.requests.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            instances: t.instances.clone(),
            received: false,
            version: t.version,
        }
    }

    pub(super) fn read(fields: &[(String, String)]) -> TopicForm {
        let value = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let all = |name: &str| fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect();
        TopicForm {
            title: value("title"),
            description: value("description"),
            confidentiality: value("confidentiality"),
            members: all("members"),
            departments: all("departments"),
            requests: value("requests"),
            instances: all("instances"),
            received: false,
            version: value("version").parse().unwrap_or(0),
        }
    }

    pub(super) fn draft(&self) -> Result<TopicDraft, (&'static str, &'static str)> {
        let requests = self
            .requests
            .split([',', ';', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>().map_err(|_| ("t-requests", "agenda.requests_invalid")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TopicDraft {
            title: self.title.clone(),
            description: self.description.clone(),
            confidentiality: if self.confidentiality == "restricted" {
                Confidentiality::Restricted
            } else {
                Confidentiality::Open
            },
            members: self.members.clone(),
            departments: self.departments.clone(),
            requests,
            instances: self.instances.clone(),
        })
    }

    pub(super) fn takes_part(&self, url: &str) -> bool {
        self.instances.iter().any(|i| i == url)
    }

    pub(super) fn member(&self, id: &str) -> bool {
        self.members.iter().any(|m| m == id)
    }

    pub(super) fn in_department(&self, id: &str) -> bool {
        self.departments.iter().any(|d| d == id)
    }
}

/// Whether `actor` may share topics with paired instances (an agent who can open topics,
/// not a guest).
pub(super) fn can_share(actor: &Actor) -> bool {
    require(actor, Action::CreateTopics).is_ok() && actor.role != Some(Role::Guest)
}

/// The paired instances a topic can be shared with: base URL, name.
pub(super) fn share_targets(state: &AppState) -> Vec<(String, String)> {
    let peers = state.federation.active_peers().unwrap_or_default();
    peers.into_iter().map(|p| (p.base_url, p.name)).collect()
}

pub(super) fn topic_problem(e: &Error) -> Option<(&'static str, &'static str)> {
    match e {
        Error::Invalid { field, .. } => Some(match field.as_deref() {
            Some("title") => ("t-title", "topic.title_invalid"),
            Some("requests") => ("t-requests", "agenda.requests_invalid"),
            Some("instances") => ("t-instances", "topic.instances_invalid"),
            _ => ("t-title", "form_error.invalid"),
        }),
        Error::Conflict { .. } => Some(("t-title", "topic.changed_meanwhile")),
        _ => None,
    }
}
