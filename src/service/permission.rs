//! Who may do what: the one table every API route, page and use case goes through.

use crate::domain::actor::{Actor, ActorKind, Role};
use crate::domain::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read requests, their personal data and timelines (within the actor's scope).
    ReadRequests,
    /// Add a comment to a request (within the actor's scope).
    CommentRequests,
    /// Change status, assign, transfer, attach.
    WorkRequests,
    /// Record a request received by phone, counter, post, e-mail, fax, SMS or social media.
    RecordRequests,
    ViewDashboard,
    /// Propose an external person as a guest on a request.
    InviteGuests,
    /// Approve or revoke guests.
    ApproveGuests,
    ManageCatalogue,
    ManageTokens,
    /// Approve accounts, change roles and scopes, revoke sessions.
    ManageAccounts,
    ReadAudit,
    /// Change the portal settings: accessibility mention, notices, colours, logo, public map.
    ManageInstance,
    /// See the agendas and their events (within the events' visibility).
    ReadAgendas,
    /// Add, change and cancel events (in the agendas of the actor's departments).
    WriteEvents,
    /// Create agendas.
    ManageAgendas,
    /// Read the topics one may see (guests: those they were invited to).
    ReadTopics,
    /// Write in the topics one may see.
    PostInTopics,
    /// Open topics.
    CreateTopics,
}

impl Action {
    pub const ALL: [Action; 18] = [
        Action::ReadRequests,
        Action::CommentRequests,
        Action::WorkRequests,
        Action::RecordRequests,
        Action::ViewDashboard,
        Action::InviteGuests,
        Action::ApproveGuests,
        Action::ManageCatalogue,
        Action::ManageTokens,
        Action::ManageAccounts,
        Action::ReadAudit,
        Action::ManageInstance,
        Action::ReadAgendas,
        Action::WriteEvents,
        Action::ManageAgendas,
        Action::ReadTopics,
        Action::PostInTopics,
        Action::CreateTopics,
    ];

    /// Actions that change the instance itself: they may require a stronger login (step-up).
    pub fn is_administrative(self) -> bool {
        matches!(
            self,
            Action::ManageCatalogue
                | Action::ManageTokens
                | Action::ManageAccounts
                | Action::ReadAudit
                | Action::ManageInstance
        )
    }
}

pub fn allowed(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin => true,
        Role::Manager => matches!(
            action,
            ReadRequests
                | CommentRequests
                | WorkRequests
                | RecordRequests
                | ViewDashboard
                | InviteGuests
                | ApproveGuests
                | ReadAgendas
                | WriteEvents
                | ReadTopics
                | PostInTopics
                | CreateTopics
        ),
        Role::Agent => matches!(
            action,
            ReadRequests
                | CommentRequests
                | WorkRequests
                | RecordRequests
                | InviteGuests
                | ReadAgendas
                | WriteEvents
                | ReadTopics
                | PostInTopics
                | CreateTopics
        ),
        Role::Elected => {
            matches!(action, ReadRequests | CommentRequests | ViewDashboard | ReadAgendas | ReadTopics | PostInTopics)
        }
        // Limited to what they were invited to by their scope.
        Role::Guest => matches!(action, ReadRequests | CommentRequests | ReadTopics | PostInTopics),
    }
}

/// Fails unless `actor` may perform `action`: `Unauthorized` for anonymous callers,
/// `Forbidden` for authenticated ones without the right, `StepUpRequired` when the right
/// is there but the login was not strong enough for an administrative action.
pub fn require(actor: &Actor, action: Action) -> Result<()> {
    match (actor.kind, actor.role) {
        (ActorKind::System, _) => Ok(()),
        (ActorKind::Agent, Some(role)) if allowed(role, action) => {
            if action.is_administrative() && !actor.step_up {
                Err(Error::StepUpRequired)
            } else {
                Ok(())
            }
        }
        (ActorKind::Agent, _) => Err(Error::Forbidden),
        (ActorKind::Citizen, _) => Err(Error::Unauthorized),
    }
}

/// `require`, and the request must be within the actor's scope (its department, or the
/// invitation of a guest). Out of scope reads as not found, so ids cannot be probed.
pub fn require_request(actor: &Actor, action: Action, id: u64, department: &str) -> Result<()> {
    require(actor, action)?;
    if actor.kind == ActorKind::System || actor.scope.covers_request(id, department) {
        Ok(())
    } else {
        Err(Error::not_found("request"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::Scope;

    #[test]
    fn the_table_is_explicit_for_every_role() {
        let granted = |role| Action::ALL.iter().filter(|a| allowed(role, **a)).count();
        assert_eq!(granted(Role::Admin), 18);
        assert_eq!(granted(Role::Manager), 12);
        assert_eq!(granted(Role::Agent), 10);
        assert_eq!(granted(Role::Elected), 6);
        assert_eq!(granted(Role::Guest), 4);
        assert!(matches!(require(&Actor::citizen(), Action::ReadRequests), Err(Error::Unauthorized)));
        assert!(matches!(
            require(&Actor::agent("token:x", Role::Agent), Action::ManageCatalogue),
            Err(Error::Forbidden)
        ));
    }

    #[test]
    fn administrative_actions_need_the_step_up_when_asked() {
        let weak = Actor::account("acc-1", Role::Admin, Scope::All, false);
        assert!(matches!(require(&weak, Action::ManageAccounts), Err(Error::StepUpRequired)));
        assert!(require(&weak, Action::ReadRequests).is_ok());
        let strong = Actor::account("acc-1", Role::Admin, Scope::All, true);
        assert!(require(&strong, Action::ManageAccounts).is_ok());
    }

    #[test]
    fn scope_limits_requests() {
        let voirie = Actor::account("acc-1", Role::Agent, Scope::Departments(vec!["voirie".into()]), true);
        assert!(require_request(&voirie, Action::WorkRequests, 1, "voirie").is_ok());
        assert!(matches!(require_request(&voirie, Action::WorkRequests, 1, "eau"), Err(Error::NotFound { .. })));
        let guest = Actor::account("acc-2", Role::Guest, Scope::Requests(vec![5]), true);
        assert!(require_request(&guest, Action::ReadRequests, 5, "eau").is_ok());
        assert!(matches!(require_request(&guest, Action::WorkRequests, 5, "eau"), Err(Error::Forbidden)));
        assert!(matches!(require_request(&guest, Action::ReadRequests, 6, "eau"), Err(Error::NotFound { .. })));
    }
}
