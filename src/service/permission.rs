//! Who may do what: the one table every API route and page goes through.

use crate::domain::actor::{Actor, ActorKind, Role};
use crate::domain::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read requests, their personal data and timelines.
    ReadRequests,
    /// Change status, assign, transfer, comment, attach.
    WorkRequests,
    /// Record a request received by phone, counter, post, e-mail, fax, SMS or social media.
    RecordRequests,
    ViewDashboard,
    ManageCatalogue,
    ManageTokens,
    ReadAudit,
}

pub fn allowed(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Admin => true,
        Role::Manager => matches!(action, ReadRequests | WorkRequests | RecordRequests | ViewDashboard),
        Role::Agent => matches!(action, ReadRequests | WorkRequests | RecordRequests),
        Role::Elected => matches!(action, ReadRequests | ViewDashboard),
        // Guests see only what they are invited to; nothing in the core API yet.
        Role::Guest => false,
    }
}

/// Fails unless `actor` may perform `action`: `Unauthorized` for anonymous callers,
/// `Forbidden` for authenticated ones without the right.
pub fn require(actor: &Actor, action: Action) -> Result<()> {
    match (actor.kind, actor.role) {
        (ActorKind::System, _) => Ok(()),
        (ActorKind::Agent, Some(role)) if allowed(role, action) => Ok(()),
        (ActorKind::Agent, _) => Err(Error::Forbidden),
        (ActorKind::Citizen, _) => Err(Error::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_explicit_for_every_role() {
        let actions = [
            Action::ReadRequests,
            Action::WorkRequests,
            Action::RecordRequests,
            Action::ViewDashboard,
            Action::ManageCatalogue,
            Action::ManageTokens,
            Action::ReadAudit,
        ];
        let granted = |role| actions.iter().filter(|a| allowed(role, **a)).count();
        assert_eq!(granted(Role::Admin), 7);
        assert_eq!(granted(Role::Manager), 4);
        assert_eq!(granted(Role::Agent), 3);
        assert_eq!(granted(Role::Elected), 2);
        assert_eq!(granted(Role::Guest), 0);
        assert!(matches!(require(&Actor::citizen(), Action::ReadRequests), Err(Error::Unauthorized)));
        assert!(matches!(
            require(&Actor::agent("token:x", Role::Agent), Action::ManageCatalogue),
            Err(Error::Forbidden)
        ));
    }
}
