//! The overdue digest on a real store with a clock the test moves: who receives what, on
//! which days, from which hour, and once a day.

use std::sync::Arc;

use jiff::Timestamp;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::domain::actor::Actor;
use crate::domain::request::{Channel, Contact, NewRequest};
use crate::service::accounts::AccountService;
use crate::service::catalogue::CatalogueService;
use crate::service::requests::RequestService;

fn at(clock: &ManualClock, when: &str) {
    let target: Timestamp = when.parse().unwrap();
    clock.advance(clock.now().duration_until(target));
}

fn digests(core: &Core) -> Vec<Notification> {
    let all = core.repos.outbox.all().map(Result::unwrap);
    all.filter(|n| n.kind == NotificationKind::OverdueDigest).collect()
}

#[tokio::test]
async fn managers_get_the_overdue_requests_of_their_departments_once_each_working_day() {
    // Monday 2 March 2026, 9:00 in Paris.
    let clock = Arc::new(ManualClock::new("2026-03-02T08:00:00Z".parse().unwrap()));
    let (_dir, core) = crate::service::testing::core(clock.clone(), true);
    CatalogueService::new(core.clone()).seed_if_new().await.unwrap();
    let system = Actor::system("test");
    let accounts = AccountService::new(core.clone());
    let police = Scope::Departments(vec!["police".into()]);
    accounts.invite(&system, "chef.police@mairie.fr", Role::Manager, police).await.unwrap();
    accounts.invite(&system, "dgs@mairie.fr", Role::Admin, Scope::All).await.unwrap();
    accounts.invite(&system, "agent@mairie.fr", Role::Agent, Scope::All).await.unwrap();
    let urbanisme = Scope::Departments(vec!["urbanisme".into()]);
    accounts.invite(&system, "urbanisme@mairie.fr", Role::Manager, urbanisme).await.unwrap();
    let requests = RequestService::new(core.clone());
    let mut registrations = Vec::new();
    for (category, subject) in [("bruit", "Tapage nocturne"), ("autre", "Question sur la cantine")] {
        let input = NewRequest {
            category: category.into(),
            subject: subject.into(),
            description: "Par téléphone.".into(),
            contact: Contact { name: "Marie Dupont".into(), ..Contact::default() },
            location: None,
            notify: None,
        };
        let created = requests.create(&system, Channel::Phone, input, None, Vec::new()).await.unwrap();
        registrations.push(created.request.registration);
    }

    // Nothing is late yet: nothing to send, but the day counts as done.
    assert_eq!(send_if_due(&core, 8).await.unwrap(), 0);
    assert!(digests(&core).is_empty());

    // Saturday 18 April, both late (15 and 30 working days): no digest at the weekend.
    at(&clock, "2026-04-18T08:00:00Z");
    assert_eq!(send_if_due(&core, 8).await.unwrap(), 0);
    // Monday 20 April, 7:30 in Paris (summer time): not yet.
    at(&clock, "2026-04-20T05:30:00Z");
    assert_eq!(send_if_due(&core, 8).await.unwrap(), 0);
    // 8:30: one digest for the police's manager, one for the admin; none for the agent,
    // nor for the manager whose department has nothing late.
    at(&clock, "2026-04-20T06:30:00Z");
    assert_eq!(send_if_due(&core, 8).await.unwrap(), 2);
    let sent = digests(&core);
    let to = |who: &str| sent.iter().find(|n| n.to == who).unwrap_or_else(|| panic!("nothing to {who}: {sent:?}"));
    let police = to("chef.police@mairie.fr");
    assert_eq!(police.subject, "Test : une demande en retard");
    assert!(police.text.contains(&registrations[0]) && police.text.contains("Tapage nocturne"), "{}", police.text);
    assert!(police.text.contains("Tapage nocturne (Police municipale), à traiter au plus tard le"), "{}", police.text);
    assert!(!police.text.contains(&registrations[1]), "not their department: {}", police.text);
    assert!(police.text.contains("http://127.0.0.1:1/agent/demandes?overdue=1"));
    let dgs = to("dgs@mairie.fr");
    assert_eq!(dgs.subject, "Test : 2 demandes en retard");
    assert!(registrations.iter().all(|r| dgs.text.contains(r.as_str())), "{}", dgs.text);
    assert_eq!(sent.len(), 2);

    // Once a day, however often it is asked; again the next working day.
    at(&clock, "2026-04-20T15:00:00Z");
    assert_eq!(send_if_due(&core, 8).await.unwrap(), 0);
    at(&clock, "2026-04-21T07:00:00Z");
    assert_eq!(send_if_due(&core, 8).await.unwrap(), 2);
    assert_eq!(digests(&core).len(), 4);
    core.store.close();
}
