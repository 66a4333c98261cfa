//! Who does something: the subject of every audit entry and request event.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account::Scope;

/// Roles of people working in Guichet. Permissions per role live in `service::permission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Agent,
    Elected,
    Guest,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Manager, Role::Agent, Role::Elected, Role::Guest];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
            Role::Elected => "elected",
            Role::Guest => "guest",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A member of the public, not authenticated (identified by nothing personal).
    Citizen,
    /// An agent authenticated by a session or an API token.
    Agent,
    /// Guichet itself (start-up seeding, migrations, command line on a stopped server).
    System,
}

const PEER_PREFIX: &str = "federation:";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    pub kind: ActorKind,
    /// Stable identifier: `token:<id>` for API tokens, an account id for agents, empty for citizens.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// What the actor sees; known from the account at authentication, not recorded.
    #[serde(skip)]
    pub scope: Scope,
    /// Whether the login met the authentication level required for admin actions.
    #[serde(skip)]
    pub step_up: bool,
}

impl Actor {
    pub fn citizen() -> Self {
        Actor { kind: ActorKind::Citizen, id: String::new(), role: None, scope: Scope::All, step_up: false }
    }

    pub fn system(what: &str) -> Self {
        Actor { kind: ActorKind::System, id: what.to_owned(), role: None, scope: Scope::All, step_up: true }
    }

    /// A paired instance, for what its messages change here.
    pub fn peer(base_url: &str) -> Self {
        Actor::system(&format!("{PEER_PREFIX}{base_url}"))
    }

    /// Whether this is a paired instance speaking through federation.
    pub fn is_peer(&self) -> bool {
        self.kind == ActorKind::System && self.id.starts_with(PEER_PREFIX)
    }

    /// An API token: every request, and no step-up to ask for.
    pub fn agent(id: impl Into<String>, role: Role) -> Self {
        Actor { kind: ActorKind::Agent, id: id.into(), role: Some(role), scope: Scope::All, step_up: true }
    }

    /// Someone signed in to an account.
    pub fn account(id: impl Into<String>, role: Role, scope: Scope, step_up: bool) -> Self {
        Actor { kind: ActorKind::Agent, id: id.into(), role: Some(role), scope, step_up }
    }
}
