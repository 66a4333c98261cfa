//! Recurrence expansion on the calendar's awkward days in Europe/Paris: the changes to and
//! from summer time (2026-03-29 and 2026-10-25), the hour that does not exist and the hour
//! that happens twice, months without a 31st, counts with exceptions.

use jiff::civil::date;

use super::*;

fn event(timing: Timing, recurrence: Option<Recurrence>) -> Event {
    let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    Event {
        id: "evt-1".into(),
        agenda: "general".into(),
        owner: "https://mairie.example".into(),
        version: 1,
        title: "Conseil municipal".into(),
        description: String::new(),
        place: "Salle du conseil".into(),
        timing,
        recurrence,
        attendees: Vec::new(),
        visibility: EventVisibility::Public,
        requests: Vec::new(),
        topic: None,
        cancelled: false,
        created_by: "acc-1".into(),
        created_at: at,
        updated_at: at,
    }
}

fn timed(start: DateTime, minutes: i64) -> Timing {
    Timing::Timed { start, end: start.checked_add(minutes.minutes()).unwrap() }
}

fn rule(frequency: Frequency, interval: u32, count: Option<u32>, until: Option<Date>) -> Recurrence {
    Recurrence { frequency, interval, until, count, exceptions: Vec::new() }
}

fn utc(e: &Event, from: &str, to: &str) -> Vec<String> {
    let (from, to) = (from.parse().unwrap(), to.parse().unwrap());
    e.occurrences(from, to).unwrap().iter().map(|o| o.starts_at.to_string()).collect()
}

#[test]
fn a_weekly_meeting_keeps_its_local_time_across_the_spring_change() {
    // Tuesdays at 18:30, Paris time: 17:30 UTC in winter, 16:30 UTC from 29 March.
    let e = event(timed(date(2026, 3, 17).at(18, 30, 0, 0), 90), Some(rule(Frequency::Weekly, 1, Some(3), None)));
    assert_eq!(
        utc(&e, "2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z"),
        ["2026-03-17T17:30:00Z", "2026-03-24T17:30:00Z", "2026-03-31T16:30:00Z"]
    );
    let last = e.occurrences("2026-03-30T00:00:00Z".parse().unwrap(), "2026-04-01T00:00:00Z".parse().unwrap()).unwrap();
    assert_eq!(last[0].ends_at.to_string(), "2026-03-31T18:00:00Z", "90 minutes later");
}

#[test]
fn a_daily_event_keeps_its_local_time_across_the_autumn_change() {
    let e = event(
        timed(date(2026, 10, 23).at(9, 0, 0, 0), 60),
        Some(rule(Frequency::Daily, 1, None, Some(date(2026, 10, 27)))),
    );
    assert_eq!(
        utc(&e, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        [
            "2026-10-23T07:00:00Z",
            "2026-10-24T07:00:00Z",
            "2026-10-25T08:00:00Z",
            "2026-10-26T08:00:00Z",
            "2026-10-27T08:00:00Z"
        ]
    );
}

#[test]
fn the_missing_and_the_repeated_hour_resolve_as_rfc_5545_says() {
    // 02:30 does not exist on 29 March 2026: the offset before the gap applies (01:30 UTC,
    // that is 03:30 summer time). 02:30 happens twice on 25 October: the first one counts.
    let e = event(timed(date(2026, 3, 28).at(2, 30, 0, 0), 30), Some(rule(Frequency::Daily, 1, Some(3), None)));
    assert_eq!(
        utc(&e, "2026-03-27T00:00:00Z", "2026-04-01T00:00:00Z"),
        ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"]
    );
    let e = event(timed(date(2026, 10, 24).at(2, 30, 0, 0), 30), Some(rule(Frequency::Daily, 1, Some(3), None)));
    assert_eq!(
        utc(&e, "2026-10-23T00:00:00Z", "2026-10-28T00:00:00Z"),
        ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
}

#[test]
fn an_all_day_event_lasts_from_midnight_to_midnight_even_on_a_short_day() {
    let e = event(Timing::AllDay { start: date(2026, 3, 29), end: date(2026, 3, 29) }, None);
    let o = e.occurrences("2026-03-01T00:00:00Z".parse().unwrap(), "2026-04-01T00:00:00Z".parse().unwrap()).unwrap();
    assert_eq!(o.len(), 1);
    assert_eq!(
        (o[0].starts_at.to_string(), o[0].ends_at.to_string()),
        ("2026-03-28T23:00:00Z".into(), "2026-03-29T22:00:00Z".into())
    );
}

#[test]
fn monthly_on_the_31st_skips_the_months_without_one() {
    let e = event(timed(date(2026, 1, 31).at(10, 0, 0, 0), 60), Some(rule(Frequency::Monthly, 1, Some(4), None)));
    let dates: Vec<String> = e
        .occurrences("2026-01-01T00:00:00Z".parse().unwrap(), "2027-01-01T00:00:00Z".parse().unwrap())
        .unwrap()
        .iter()
        .map(|o| o.timing.start_date().to_string())
        .collect();
    assert_eq!(dates, ["2026-01-31", "2026-03-31", "2026-05-31", "2026-07-31"]);
}

#[test]
fn exceptions_remove_occurrences_that_the_count_still_counts() {
    // Every two weeks, five times, but not on 14 April: four meetings, the last on 12 May.
    let mut r = rule(Frequency::Weekly, 2, Some(5), None);
    r.exceptions.push(date(2026, 4, 14));
    let e = event(timed(date(2026, 3, 17).at(18, 0, 0, 0), 60), Some(r));
    let dates: Vec<String> = e
        .occurrences("2026-01-01T00:00:00Z".parse().unwrap(), "2027-01-01T00:00:00Z".parse().unwrap())
        .unwrap()
        .iter()
        .map(|o| o.timing.start_date().to_string())
        .collect();
    assert_eq!(dates, ["2026-03-17", "2026-03-31", "2026-04-28", "2026-05-12"]);
}

#[test]
fn a_window_returns_only_what_overlaps_it() {
    let e = event(timed(date(2026, 1, 5).at(8, 0, 0, 0), 60), Some(rule(Frequency::Daily, 1, None, None)));
    let window = utc(&e, "2026-06-10T06:30:00Z", "2026-06-12T06:00:00Z");
    assert_eq!(window, ["2026-06-10T06:00:00Z", "2026-06-11T06:00:00Z"], "the first overlaps the window's start");
}

#[test]
fn a_daily_event_started_long_ago_still_shows_today() {
    // Started twenty years before the window (more repetitions than MAX_OCCURRENCES):
    // the window still gets its occurrences, and a monthly one too.
    let daily = event(timed(date(2006, 1, 2).at(8, 0, 0, 0), 60), Some(rule(Frequency::Daily, 1, None, None)));
    assert_eq!(
        utc(&daily, "2026-06-10T00:00:00Z", "2026-06-12T00:00:00Z"),
        ["2026-06-10T06:00:00Z", "2026-06-11T06:00:00Z"]
    );
    let every_third_day =
        event(timed(date(2006, 1, 2).at(8, 0, 0, 0), 60), Some(rule(Frequency::Daily, 3, None, None)));
    // 7,455 days from 2 January 2006 to 1 June 2026: a multiple of three.
    assert_eq!(
        utc(&every_third_day, "2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z"),
        ["2026-06-01T06:00:00Z", "2026-06-04T06:00:00Z", "2026-06-07T06:00:00Z"]
    );
    let monthly = event(timed(date(1990, 1, 31).at(10, 0, 0, 0), 60), Some(rule(Frequency::Monthly, 1, None, None)));
    assert_eq!(utc(&monthly, "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"), ["2026-05-31T08:00:00Z"]);
    // A three-day event repeated weekly still overlaps a window opening on its last day.
    let long = Timing::AllDay { start: date(2020, 1, 1), end: date(2020, 1, 3) };
    let weekly = event(long, Some(rule(Frequency::Weekly, 1, None, None)));
    let overlapping =
        weekly.occurrences("2026-06-05T12:00:00Z".parse().unwrap(), "2026-06-05T13:00:00Z".parse().unwrap());
    assert_eq!(overlapping.unwrap().len(), 1);
}

#[test]
fn events_are_checked() {
    let ok = event(timed(date(2026, 3, 17).at(18, 0, 0, 0), 60), None);
    assert!(ok.validate().is_ok());
    let backwards = event(timed(date(2026, 3, 17).at(18, 0, 0, 0), -60), None);
    assert!(matches!(backwards.validate(), Err(Error::Invalid { code: "invalid_end", .. })));
    let both = event(ok.timing, Some(rule(Frequency::Daily, 1, Some(3), Some(date(2026, 4, 1)))));
    assert!(matches!(both.validate(), Err(Error::Invalid { code: "invalid_recurrence", .. })));
    let zero = event(ok.timing, Some(rule(Frequency::Daily, 0, None, None)));
    assert!(matches!(zero.validate(), Err(Error::Invalid { code: "invalid_interval", .. })));
    let untitled = Event { title: "  ".into(), ..ok };
    assert!(matches!(untitled.validate(), Err(Error::Invalid { code: "invalid_title", .. })));
}
