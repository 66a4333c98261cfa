//! Session lifetimes and guest end dates, on a real store with a clock the test moves.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::clock::ManualClock;
use crate::domain::account::AccountStatus;
use crate::service::accounts::AccountService;

fn core(clock: Arc<ManualClock>) -> (tempfile::TempDir, Arc<Core>) {
    crate::service::testing::core(clock, false)
}

/// Signs in an invited agent through their link; returns the session secret.
async fn signed_in_agent(core: &Arc<Core>, email: &str) -> String {
    let accounts = AccountService::new(core.clone());
    let link = accounts.invite(&Actor::system("test"), email, Role::Agent, Scope::All).await.unwrap();
    let secret = link.url.rsplit('/').next().unwrap().to_owned();
    accounts.use_link(&secret, None).await.unwrap().secret
}

#[tokio::test]
async fn a_session_ends_when_idle_and_at_its_absolute_end() {
    let clock = Arc::new(ManualClock::new("2026-03-02T08:00:00Z".parse::<Timestamp>().unwrap()));
    let (_dir, core) = core(clock.clone());
    let sessions = SessionService::new(core.clone());
    let secret = signed_in_agent(&core, "a@mairie.fr").await;
    // Used every 110 minutes, it lives on until its 12 hours are up...
    for _ in 0..6 {
        clock.advance(SignedDuration::from_mins(110));
        assert!(sessions.authenticate(&secret).await.unwrap().is_some());
    }
    clock.advance(SignedDuration::from_mins(61));
    assert!(sessions.authenticate(&secret).await.unwrap().is_none(), "12 hours after the login");
    assert!(core.repos.sessions.session(&secret_hash(&secret)).unwrap().is_none(), "and it is removed");

    // ...and unused for more than two hours, it ends.
    let secret = signed_in_agent(&core, "b@mairie.fr").await;
    clock.advance(SignedDuration::from_mins(119));
    assert!(sessions.authenticate(&secret).await.unwrap().is_some());
    clock.advance(SignedDuration::from_mins(121));
    assert!(sessions.authenticate(&secret).await.unwrap().is_none(), "idle for more than two hours");

    // Expired logins, links and sessions are swept away.
    let accounts = AccountService::new(core.clone());
    accounts.invite(&Actor::system("test"), "c@mairie.fr", Role::Agent, Scope::All).await.unwrap();
    clock.advance(SignedDuration::from_hours(25));
    assert!(sessions.sweep().await.unwrap() >= 1, "the unused link");
    assert_eq!(sessions.sweep().await.unwrap(), 0);
    core.store.close();
}

#[test]
fn a_guest_sees_the_requests_of_invitations_that_have_not_ended() {
    let now: Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
    let invitation = |id: &str, request: u64, status: GuestStatus, hours: i64| Guest {
        id: id.into(),
        account: "acc-guest".into(),
        email: "g@partenaire.fr".into(),
        name: "Partenaire".into(),
        invitation: Invitation::Request(request),
        status,
        invited_by: "acc-1".into(),
        approved_by: None,
        created_at: now,
        ends_at: now + SignedDuration::from_hours(hours),
    };
    let guests = [
        invitation("g1", 7, GuestStatus::Approved, 48),
        invitation("g2", 8, GuestStatus::Approved, 1),
        invitation("g3", 9, GuestStatus::Proposed, 48),
        invitation("g4", 10, GuestStatus::Revoked, 48),
    ];
    let mut account = Account {
        id: "acc-guest".into(),
        email: "g@partenaire.fr".into(),
        given_name: "Partenaire".into(),
        family_name: String::new(),
        role: Role::Guest,
        status: AccountStatus::Active,
        scope: Scope::Requests(vec![]),
        siret: String::new(),
        identities: vec![],
        expires_at: None,
        created_at: now,
        last_login_at: None,
    };
    assert_eq!(effective_scope(&account, &guests, now), Scope::Requests(vec![7, 8]));
    let later = now + SignedDuration::from_hours(2);
    assert_eq!(effective_scope(&account, &guests, later), Scope::Requests(vec![7]), "one invitation ended");
    assert_eq!(effective_scope(&account, &guests, now + SignedDuration::from_hours(49)), Scope::Requests(vec![]));
    account.role = Role::Agent;
    account.scope = Scope::Departments(vec!["voirie".into()]);
    assert_eq!(
        effective_scope(&account, &guests, now),
        Scope::Departments(vec!["voirie".into()]),
        "agents keep theirs"
    );
}
