//! Indexes, counters and listing checked against brute force over generated requests.

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::domain::actor::Actor;
use crate::domain::catalogue::Category;
use crate::domain::holidays::HolidayCalendar;
use crate::domain::request::{Change, Channel, Contact, NewRequest, registration_number};
use crate::domain::status::Status;
use crate::store::{self, Repos, Store};

fn category(id: &str, department: &str) -> Category {
    Category {
        id: id.into(),
        name: id.into(),
        description: String::new(),
        department: department.into(),
        sla_days: 5,
        required: vec![],
        implicit_decision: None,
        public: true,
        active: true,
        messages: Default::default(),
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Creates `n` requests, then moves some of them through statuses, assignments and transfers.
fn populate(store: &Store, repos: &Repos, n: u64) -> Timestamp {
    let cal = HolidayCalendar::default();
    let start: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
    let categories =
        [category("voirie", "technique"), category("proprete", "environnement"), category("bruit", "police")];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut requests = Vec::new();
    for id in 1..=n {
        let c = &categories[rng.below(3) as usize];
        let received = start + SignedDuration::from_hours(rng.below(24 * 300) as i64);
        let input = NewRequest {
            category: c.id.clone(),
            description: format!("request {id}"),
            contact: Contact { email: format!("c{id}@example.fr"), ..Contact::default() },
            ..NewRequest::default()
        };
        let code = TrackingCode::from_random(rng.next());
        let channel = Channel::ALL[rng.below(5) as usize];
        let mut r = Request::new(id, code, registration_number(2026, id), channel, input, c, received, None, &cal);
        r.events = 1;
        let created =
            RequestEvent { seq: 1, at: received, actor: Actor::citizen(), change: Change::Created { channel } };
        let later = received + SignedDuration::from_hours(30);
        let mut updated = r.clone();
        let mut changes = Vec::new();
        match rng.below(6) {
            0 => changes.push(updated.change_status(Status::InProgress, None, later, &cal).unwrap()),
            1 => {
                changes.push(updated.change_status(Status::InProgress, None, later, &cal).unwrap());
                changes.push(updated.change_status(Status::Waiting, None, later, &cal).unwrap());
            }
            2 => {
                changes.push(updated.change_status(Status::InProgress, None, later, &cal).unwrap());
                let when = received + SignedDuration::from_hours(rng.below(24 * 20) as i64);
                changes.push(updated.change_status(Status::Resolved, None, when.max(later), &cal).unwrap());
            }
            3 => changes.push(updated.change_status(Status::Rejected, Some("hors sujet".into()), later, &cal).unwrap()),
            4 => changes.push(updated.assign(Some(format!("agent-{}", rng.below(3))), later).unwrap()),
            _ => changes.push(updated.transfer("accueil", None, later).unwrap()),
        }
        requests.push((r, created, updated, changes));
    }
    let requests_repo = repos.requests.clone();
    store
        .write_blocking(move |tx| {
            for (r, created, updated, changes) in &requests {
                requests_repo.insert(tx, r, created)?;
                let mut previous = r.clone();
                for (i, change) in changes.iter().enumerate() {
                    let mut next = updated.clone();
                    next.events = 2 + i as u32;
                    let event = RequestEvent {
                        seq: next.events,
                        at: next.updated_at,
                        actor: Actor::citizen(),
                        change: change.clone(),
                    };
                    requests_repo.update(tx, &previous, &next, &event)?;
                    previous = next;
                }
            }
            Ok(())
        })
        .unwrap();
    start + SignedDuration::from_hours(24 * 200)
}

fn all_pages(repos: &Repos, mut query: RequestQuery) -> Vec<u64> {
    let mut ids = Vec::new();
    loop {
        let page = repos.requests.list(&query).unwrap();
        assert!(page.items.len() <= query.limit);
        ids.extend(page.items.iter().map(|r| r.id));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return ids,
        }
    }
}

fn query(now: Timestamp) -> RequestQuery {
    RequestQuery { limit: 7, ..RequestQuery::new(now) }
}

#[test]
fn listing_matches_brute_force_for_every_filter_and_sort() {
    let dir = tempfile::tempdir().unwrap();
    let (store, repos) = store::open(dir.path(), 16 << 20).unwrap();
    let now = populate(&store, &repos, 400);
    let everything: Vec<Request> = repos.requests.iter().map(Result::unwrap).collect();
    assert_eq!(everything.len(), 400);

    let mut cases = Vec::new();
    for sort in [Sort::Due, Sort::DueDesc, Sort::Received, Sort::ReceivedDesc] {
        cases.push(RequestQuery { sort, ..query(now) });
        cases.push(RequestQuery {
            sort,
            department: Some("technique".into()),
            statuses: vec![Status::Received],
            ..query(now)
        });
        cases.push(RequestQuery {
            sort,
            statuses: vec![Status::Received, Status::InProgress, Status::Waiting],
            ..query(now)
        });
        cases.push(RequestQuery { sort, assignee: Some("agent-1".into()), ..query(now) });
        cases.push(RequestQuery { sort, overdue: true, ..query(now) });
        cases.push(RequestQuery { sort, category: Some("bruit".into()), channel: Some(Channel::Web), ..query(now) });
        cases.push(RequestQuery {
            sort,
            department: Some("accueil".into()),
            received_from: Some("2026-03-01T00:00:00Z".parse().unwrap()),
            received_to: Some("2026-06-30T00:00:00Z".parse().unwrap()),
            ..query(now)
        });
    }
    for q in cases {
        let mut expected: Vec<&Request> = everything.iter().filter(|r| query::matches(&q, r)).collect();
        let key = |r: &Request| match q.sort {
            Sort::Due | Sort::DueDesc => (r.due_at.as_second(), r.id),
            Sort::Received | Sort::ReceivedDesc => (r.received_at.as_second(), r.id),
        };
        expected.sort_by_key(|r| key(r));
        if matches!(q.sort, Sort::DueDesc | Sort::ReceivedDesc) {
            expected.reverse();
        }
        let expected: Vec<u64> = expected.iter().map(|r| r.id).collect();
        assert!(!expected.is_empty() || q.overdue, "case selects nothing: {q:?}");
        assert_eq!(all_pages(&repos, q.clone()), expected, "{q:?}");
    }
    store.close();
}

#[test]
fn counters_and_indexes_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let (store, repos) = store::open(dir.path(), 16 << 20).unwrap();
    let now = populate(&store, &repos, 300);
    assert_eq!(repos.requests.check_consistency().unwrap(), Vec::<String>::new());
    let today = crate::domain::sla::paris_date(now);
    let d = repos.requests.counters().dashboard(today).unwrap();
    let everything: Vec<Request> = repos.requests.iter().map(Result::unwrap).collect();
    assert_eq!(d.total, 300);
    assert_eq!(d.by_status.values().sum::<i64>(), 300);
    let overdue = everything.iter().filter(|r| r.is_overdue(now)).count() as i64;
    assert_eq!(d.overdue, overdue);
    let decided = everything.iter().filter(|r| r.decided_at.is_some()).count() as i64;
    let within = everything.iter().filter(|r| r.decided_within_delay() == Some(true)).count() as i64;
    assert_eq!((d.decided, d.decided_within_delay), (decided, within));
    assert!(decided > 0 && within > 0 && within < decided, "the data covers both outcomes");
    store.close();
}

#[test]
fn a_bad_cursor_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, repos) = store::open(dir.path(), 16 << 20).unwrap();
    let now = populate(&store, &repos, 20);
    let page = repos.requests.list(&query(now)).unwrap();
    let cursor = page.next_cursor.unwrap();
    let wrong_sort = RequestQuery { sort: Sort::Received, cursor: Some(cursor), ..query(now) };
    assert!(repos.requests.list(&wrong_sort).is_err());
    let garbage = RequestQuery { cursor: Some("!!".into()), ..query(now) };
    assert!(repos.requests.list(&garbage).is_err());
    store.close();
}
