use jiff::Timestamp;

use super::*;
use crate::domain::catalogue::{ImplicitDecision, ImplicitOutcome};

fn category() -> Category {
    Category {
        id: "voirie".into(),
        name: "Voirie".into(),
        description: String::new(),
        department: "technique".into(),
        sla_days: 10,
        required: vec![RequiredField::Email, RequiredField::Location],
        implicit_decision: Some(ImplicitDecision { months: 2, outcome: ImplicitOutcome::Rejection }),
        public: true,
        active: true,
        messages: Default::default(),
    }
}

fn input() -> NewRequest {
    NewRequest {
        category: "voirie".into(),
        subject: "  ".into(),
        description: "Nid de poule devant le 12".into(),
        contact: Contact { email: " marie@example.fr ".into(), ..Contact::default() },
        location: Some(Location { address: "12 rue des Lilas".into(), ..Location::default() }),
        notify: None,
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn request() -> Request {
    let mut input = input();
    input.validate(&category()).unwrap();
    Request::new(
        1,
        TrackingCode::from_random(42),
        registration_number(2026, 1),
        Channel::Web,
        input,
        &category(),
        ts("2026-11-23T09:00:00+01:00"),
        None,
        &HolidayCalendar::default(),
    )
}

#[test]
fn validation_trims_defaults_the_subject_and_enforces_required_fields() {
    let mut ok = input();
    ok.validate(&category()).unwrap();
    assert_eq!(ok.subject, "Voirie");
    assert_eq!(ok.contact.email, "marie@example.fr");

    let mut no_email = input();
    no_email.contact.email.clear();
    match no_email.validate(&category()) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("contact.email")),
        other => panic!("{other:?}"),
    }
    let mut no_location = input();
    no_location.location = None;
    assert!(no_location.validate(&category()).is_err());
    let mut half_coordinates = input();
    half_coordinates.location = Some(Location { lat: Some(48.8), ..Location::default() });
    assert!(half_coordinates.validate(&category()).is_err());
    let mut bad_email = input();
    bad_email.contact.email = "marie at example".into();
    assert!(bad_email.validate(&category()).is_err());
    let mut bad_phone = input();
    bad_phone.contact.phone = "appelez-moi".into();
    assert!(bad_phone.validate(&category()).is_err());
    let mut good_phone = input();
    good_phone.contact.phone = "+33 6 12 34 56 78".into();
    assert!(good_phone.validate(&category()).is_ok());
}

#[test]
fn notification_defaults_to_email_and_needs_the_matching_contact() {
    let mut r = input();
    r.validate(&category()).unwrap();
    assert_eq!(r.notify, Some(Notify::Email));
    let mut sms = input();
    sms.notify = Some(Notify::Sms);
    assert!(sms.validate(&category()).is_err(), "no phone number given");
    sms.contact.phone = "06 12 34 56 78".into();
    sms.validate(&category()).unwrap();
    assert_eq!(sms.notify, Some(Notify::Sms));
}

#[test]
fn a_new_request_gets_its_delays() {
    let r = request();
    assert_eq!(r.status, Status::Received);
    assert_eq!(r.registration, "2026-000001");
    // Ten working days after Monday 23 November 2026: Monday 7 December, end of day.
    assert_eq!(r.due_at, ts("2026-12-07T23:59:59+01:00"));
    assert_eq!(r.implicit_decision_at, Some(ts("2027-01-23T23:59:59+01:00")));
}

#[test]
fn waiting_pauses_the_delay_and_decisions_stop_the_clock() {
    let cal = HolidayCalendar::default();
    let mut r = request();
    r.change_status(Status::InProgress, None, ts("2026-11-23T10:00:00+01:00"), &cal).unwrap();
    assert_eq!(r.first_response_at, Some(ts("2026-11-23T10:00:00+01:00")));
    r.change_status(Status::Waiting, None, ts("2026-11-24T10:00:00+01:00"), &cal).unwrap();
    // Waited Tuesday to Friday: three working days added.
    r.change_status(Status::InProgress, None, ts("2026-11-27T10:00:00+01:00"), &cal).unwrap();
    assert_eq!(r.due_at, ts("2026-12-10T23:59:59+01:00"));
    let change = r.change_status(Status::Resolved, None, ts("2026-12-01T10:00:00+01:00"), &cal).unwrap();
    assert!(matches!(change, Change::Status { from: Status::InProgress, to: Status::Resolved, .. }));
    assert_eq!(r.decided_within_delay(), Some(true));
    // Reopening keeps the first decision for the quality-of-service measure.
    r.change_status(Status::InProgress, None, ts("2026-12-20T10:00:00+01:00"), &cal).unwrap();
    assert_eq!(r.decided_at, Some(ts("2026-12-01T10:00:00+01:00")));
    assert!(r.change_status(Status::Rejected, None, ts("2026-12-21T10:00:00+01:00"), &cal).is_err());
    assert_eq!(r.status, Status::InProgress, "a refused transition changes nothing");
}

#[test]
fn transfer_moves_department_and_clears_assignee() {
    let at = ts("2026-11-24T10:00:00+01:00");
    let mut r = request();
    r.assign(Some("agent-1".into()), at).unwrap();
    r.transfer("proprete", Some("pas chez nous".into()), at).unwrap();
    assert_eq!(r.department, "proprete");
    assert_eq!(r.assignee, None);
    assert!(r.transfer("proprete", None, at).is_err());
    assert!(r.transfer("Bad Id", None, at).is_err());
}

#[test]
fn overdue_counts_only_requests_awaiting_work() {
    let cal = HolidayCalendar::default();
    let mut r = request();
    let late = ts("2026-12-08T09:00:00+01:00");
    assert!(r.is_overdue(late));
    r.change_status(Status::InProgress, None, late, &cal).unwrap();
    r.change_status(Status::Waiting, None, late, &cal).unwrap();
    assert!(!r.is_overdue(late));
}

#[test]
fn public_timeline_hides_internal_comments_and_assignments() {
    assert!(Change::Comment { visibility: Visibility::Public, body: "x".into() }.is_public());
    assert!(!Change::Comment { visibility: Visibility::Internal, body: "x".into() }.is_public());
    assert!(!Change::Assigned { assignee: None }.is_public());
}
