use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::{Date, date};

use super::*;

const NATIONAL: HolidayCalendar = HolidayCalendar::new(false);
const ALSACE: HolidayCalendar = HolidayCalendar::new(true);

/// Parses an RFC 3339 instant (test helper).
fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Brute-force reference for `working_days_between`.
fn brute_between(cal: &HolidayCalendar, from: Date, to: Date) -> u32 {
    let mut count = 0;
    let mut d = from;
    while d < to {
        d = d.tomorrow().unwrap();
        if cal.is_working_day(d) {
            count += 1;
        }
    }
    count
}

#[test]
fn paris_date_uses_paris_not_utc() {
    // 00:30 Paris (CEST) on Friday 12 June is still Thursday in UTC.
    assert_eq!(paris_date(ts("2026-06-11T22:30:00Z")), date(2026, 6, 12));
    // 00:30 Paris (CET) on Friday 16 January is still Thursday in UTC.
    assert_eq!(paris_date(ts("2026-01-15T23:30:00Z")), date(2026, 1, 16));
    // 23:30 Paris on a Friday is 21:30 UTC the same day.
    assert_eq!(paris_date(ts("2026-06-12T21:30:00Z")), date(2026, 6, 12));
    // 23:30 UTC on a Friday is already Saturday in Paris.
    assert_eq!(paris_date(ts("2026-06-12T23:30:00Z")), date(2026, 6, 13));
    assert_eq!(paris_date(ts("2026-06-12T21:59:59Z")), date(2026, 6, 12));
    assert_eq!(paris_date(ts("2026-06-12T22:00:00Z")), date(2026, 6, 13));
    assert_eq!(paris_date(ts("2026-01-16T22:59:59Z")), date(2026, 1, 16));
    assert_eq!(paris_date(ts("2026-01-16T23:00:00Z")), date(2026, 1, 17));
}

#[test]
fn add_zero_working_days_returns_start() {
    assert_eq!(add_working_days(&NATIONAL, date(2026, 3, 7), 0), date(2026, 3, 7));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 5, 14), 0), date(2026, 5, 14));
}

#[test]
fn add_working_days_friday_to_monday() {
    assert_eq!(add_working_days(&NATIONAL, date(2026, 3, 6), 1), date(2026, 3, 9));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 3, 6), 5), date(2026, 3, 13));
    // From a Saturday or a Sunday, the first working day is the Monday.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 3, 7), 1), date(2026, 3, 9));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 3, 8), 1), date(2026, 3, 9));
}

#[test]
fn add_working_days_ascension_bridge() {
    // Ascension is Thursday 14 May 2026.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 5, 13), 1), date(2026, 5, 15));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 5, 13), 2), date(2026, 5, 18));
    // Lundi de Pentecôte is Monday 25 May 2026.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 5, 22), 1), date(2026, 5, 26));
}

#[test]
fn add_working_days_may_fridays_2026() {
    // 1 May and 8 May 2026 are Fridays.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 4, 30), 1), date(2026, 5, 4));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 5, 7), 1), date(2026, 5, 11));
    // Mon 4, Tue 5, Wed 6, Thu 7, (Fri 8 off), Mon 11.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 4, 30), 5), date(2026, 5, 11));
    // Then 12, 13, (Ascension 14 off), 15, 18, 19, 20, 21, 22, (Whit Monday 25 off), 26.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 4, 30), 14), date(2026, 5, 26));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 4, 30), 16), date(2026, 5, 28));
}

#[test]
fn add_working_days_christmas_new_year_2026() {
    // Christmas Friday 25 Dec 2026, New Year Friday 1 Jan 2027.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 12, 24), 1), date(2026, 12, 28));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 12, 24), 4), date(2026, 12, 31));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 12, 24), 5), date(2027, 1, 4));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 12, 31), 1), date(2027, 1, 4));
    // Saint-Étienne falls on a Saturday in 2026: no change in Alsace-Moselle.
    assert_eq!(add_working_days(&ALSACE, date(2026, 12, 24), 5), date(2027, 1, 4));
}

#[test]
fn add_working_days_sunday_holiday_is_not_moved() {
    // Toussaint 2026 is a Sunday: Monday 2 November is worked.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 10, 30), 1), date(2026, 11, 2));
    // Armistice, Wednesday 11 November 2026.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 11, 10), 1), date(2026, 11, 12));
    // Assomption 2026 is a Saturday.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 8, 14), 1), date(2026, 8, 17));
}

#[test]
fn add_working_days_alsace_moselle_good_friday() {
    // Good Friday 3 April 2026, Easter Monday 6 April 2026.
    assert_eq!(add_working_days(&NATIONAL, date(2026, 4, 2), 1), date(2026, 4, 3));
    assert_eq!(add_working_days(&ALSACE, date(2026, 4, 2), 1), date(2026, 4, 7));
    assert_eq!(add_working_days(&NATIONAL, date(2026, 4, 2), 2), date(2026, 4, 7));
    assert_eq!(add_working_days(&ALSACE, date(2026, 4, 2), 2), date(2026, 4, 8));
}

#[test]
fn add_working_days_is_capped() {
    let start = date(2026, 1, 1);
    let capped = add_working_days(&NATIONAL, start, MAX_WORKING_DAYS);
    assert_eq!(add_working_days(&NATIONAL, start, u32::MAX), capped);
    assert_eq!(working_days_between(&NATIONAL, start, capped), MAX_WORKING_DAYS);
    // Near the end of the supported range the walk stops at Date::MAX.
    assert_eq!(add_working_days(&NATIONAL, date(9999, 12, 20), 100), Date::MAX);
}

#[test]
fn working_days_between_basics() {
    assert_eq!(working_days_between(&NATIONAL, date(2026, 3, 9), date(2026, 3, 9)), 0);
    assert_eq!(working_days_between(&NATIONAL, date(2026, 3, 13), date(2026, 3, 9)), 0);
    // Fri → Mon.
    assert_eq!(working_days_between(&NATIONAL, date(2026, 3, 6), date(2026, 3, 9)), 1);
    // Fri → Sun.
    assert_eq!(working_days_between(&NATIONAL, date(2026, 3, 6), date(2026, 3, 8)), 0);
    // Sat → Sat.
    assert_eq!(working_days_between(&NATIONAL, date(2026, 3, 7), date(2026, 3, 14)), 5);
    // Across the Ascension bridge: Thu 14 off.
    assert_eq!(working_days_between(&NATIONAL, date(2026, 5, 11), date(2026, 5, 18)), 4);
    // Across Easter in Alsace-Moselle: Fri 3 and Mon 6 off.
    assert_eq!(working_days_between(&NATIONAL, date(2026, 3, 30), date(2026, 4, 10)), 8);
    assert_eq!(working_days_between(&ALSACE, date(2026, 3, 30), date(2026, 4, 10)), 7);
}

#[test]
fn working_days_in_whole_years() {
    // 2026: 261 weekdays, 9 holidays on weekdays (15 Aug and 1 Nov are weekend days).
    assert_eq!(working_days_between(&NATIONAL, date(2025, 12, 31), date(2026, 12, 31)), 252);
    // Alsace-Moselle adds Good Friday (26 December is a Saturday).
    assert_eq!(working_days_between(&ALSACE, date(2025, 12, 31), date(2026, 12, 31)), 251);
    // 2024 (leap year): 262 weekdays, 10 holidays on weekdays (14 July was a Sunday).
    assert_eq!(working_days_between(&NATIONAL, date(2023, 12, 31), date(2024, 12, 31)), 252);
}

#[test]
fn working_days_between_matches_brute_force_on_long_spans() {
    let pairs = [
        (date(2023, 12, 29), date(2027, 1, 4)),
        (date(2024, 2, 28), date(2026, 3, 1)),
        (date(2020, 5, 9), date(2028, 5, 8)),
        (date(1999, 12, 31), date(2001, 1, 1)),
    ];
    for (from, to) in pairs {
        for cal in [NATIONAL, ALSACE] {
            assert_eq!(working_days_between(&cal, from, to), brute_between(&cal, from, to), "{from} → {to}");
        }
    }
}

#[test]
fn due_at_across_spring_dst_change() {
    // Friday 27 March 2026 10:00 CET; DST starts Sunday 29 March.
    let received = ts("2026-03-27T10:00:00+01:00");
    let due = due_at(&NATIONAL, received, 2);
    assert_eq!(due, ts("2026-03-31T23:59:59+02:00"));
    assert_eq!(due, ts("2026-03-31T21:59:59Z"));
}

#[test]
fn due_at_across_autumn_dst_change() {
    // Friday 23 October 2026 10:00 CEST; DST ends Sunday 25 October.
    let received = ts("2026-10-23T10:00:00+02:00");
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2026-10-26T23:59:59+01:00"));
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2026-10-26T22:59:59Z"));
    // Received on the Sunday of the change itself.
    let received = ts("2026-10-25T02:30:00+01:00");
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2026-10-26T23:59:59+01:00"));
}

#[test]
fn due_at_zero_days_is_end_of_receipt_day() {
    let received = ts("2026-03-10T09:15:00+01:00");
    assert_eq!(due_at(&NATIONAL, received, 0), ts("2026-03-10T23:59:59+01:00"));
}

#[test]
fn due_at_received_on_saturday() {
    // Saturday 7 March 2026: counts from Monday 9.
    let received = ts("2026-03-07T10:00:00+01:00");
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2026-03-09T23:59:59+01:00"));
    assert_eq!(due_at(&NATIONAL, received, 5), ts("2026-03-13T23:59:59+01:00"));
    // Same as a Friday receipt.
    let friday = ts("2026-03-06T10:00:00+01:00");
    assert_eq!(due_at(&NATIONAL, friday, 5), due_at(&NATIONAL, received, 5));
}

#[test]
fn due_at_received_on_a_holiday() {
    // Ascension, Thursday 14 May 2026: counts from Friday 15.
    let received = ts("2026-05-14T11:00:00+02:00");
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2026-05-15T23:59:59+02:00"));
}

#[test]
fn due_at_late_friday_evening_uses_paris_date() {
    // Friday 12 June 2026 23:30 Paris: a Friday receipt, +1 is Monday.
    let received = ts("2026-06-12T23:30:00+02:00");
    assert_eq!(received, ts("2026-06-12T21:30:00Z"));
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2026-06-15T23:59:59+02:00"));
    // Friday 12 June 2026 00:30 Paris is Thursday 22:30 UTC: still a Friday
    // receipt, so +1 is Monday (with the UTC date it would wrongly be Friday).
    let received = ts("2026-06-11T22:30:00Z");
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2026-06-15T23:59:59+02:00"));
    // Friday 23:30 UTC is Saturday 01:30 Paris: a Saturday receipt.
    let received = ts("2026-06-12T23:30:00Z");
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2026-06-15T23:59:59+02:00"));
    assert_eq!(due_at(&NATIONAL, received, 0), ts("2026-06-13T23:59:59+02:00"));
}

#[test]
fn due_at_received_on_new_years_eve() {
    // Thursday 31 December 2026; Friday 1 January 2027 is a holiday.
    let received = ts("2026-12-31T15:00:00+01:00");
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2027-01-04T23:59:59+01:00"));
    assert_eq!(due_at(&NATIONAL, received, 2), ts("2027-01-05T23:59:59+01:00"));
    // 31 December 2026 at 23:30 UTC is already 1 January 2027 in Paris.
    let received = ts("2026-12-31T23:30:00Z");
    assert_eq!(paris_date(received), date(2027, 1, 1));
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2027-01-04T23:59:59+01:00"));
    // Friday 31 December 2027; Saturday 1 January 2028.
    let received = ts("2027-12-31T09:00:00+01:00");
    assert_eq!(due_at(&NATIONAL, received, 1), ts("2028-01-03T23:59:59+01:00"));
}

#[test]
fn due_at_typical_legal_delays() {
    let received = ts("2026-04-30T14:00:00+02:00");
    // May 2026 has 21 weekdays minus 1, 8, 14, 25 = 17 working days;
    // June 2026 has 22 working days (39 in all), so the 40th is 1 July.
    assert_eq!(due_at(&NATIONAL, received, 17), ts("2026-05-29T23:59:59+02:00"));
    assert_eq!(due_at(&NATIONAL, received, 40), ts("2026-07-01T23:59:59+02:00"));
}

#[test]
fn extend_for_waiting_same_day_costs_nothing() {
    let due = ts("2026-03-31T23:59:59+02:00");
    let from = ts("2026-03-10T09:00:00+01:00");
    let to = ts("2026-03-10T17:00:00+01:00");
    assert_eq!(extend_for_waiting(&NATIONAL, due, from, to), due);
    // Reversed bounds cost nothing either.
    assert_eq!(extend_for_waiting(&NATIONAL, due, to, from), due);
    // Waiting during a weekend only costs nothing.
    let from = ts("2026-03-14T09:00:00+01:00");
    let to = ts("2026-03-15T18:00:00+01:00");
    assert_eq!(extend_for_waiting(&NATIONAL, due, from, to), due);
}

#[test]
fn extend_for_waiting_over_a_weekend() {
    let due = ts("2026-03-31T23:59:59+02:00");
    // Friday 13 March 16:00 → Monday 16 March 09:00: only Monday counts.
    let from = ts("2026-03-13T16:00:00+01:00");
    let to = ts("2026-03-16T09:00:00+01:00");
    assert_eq!(elapsed_working_days(&NATIONAL, from, to), 1);
    assert_eq!(extend_for_waiting(&NATIONAL, due, from, to), ts("2026-04-01T23:59:59+02:00"));
    // A full week of waiting (Mon → Mon) costs five working days.
    let from = ts("2026-03-16T10:00:00+01:00");
    let to = ts("2026-03-23T10:00:00+01:00");
    assert_eq!(
        extend_for_waiting(&NATIONAL, due, from, to),
        // Wed 1, Thu 2, Fri 3, (Mon 6 off), Tue 7, Wed 8.
        ts("2026-04-08T23:59:59+02:00")
    );
}

#[test]
fn extend_for_waiting_over_easter() {
    let due = ts("2026-04-10T23:59:59+02:00");
    // Thursday 2 → Tuesday 7 April: Fri 3 and Tue 7 (Mon 6 off) = 2.
    let from = ts("2026-04-02T11:00:00+02:00");
    let to = ts("2026-04-07T11:00:00+02:00");
    assert_eq!(extend_for_waiting(&NATIONAL, due, from, to), ts("2026-04-14T23:59:59+02:00"));
    // Alsace-Moselle: Good Friday off too, only Tue 7 counts.
    assert_eq!(extend_for_waiting(&ALSACE, due, from, to), ts("2026-04-13T23:59:59+02:00"));
}

#[test]
fn extend_for_waiting_uses_paris_dates() {
    let due = ts("2026-06-19T23:59:59+02:00");
    // Thursday 22:30 UTC is Friday 00:30 Paris; Friday 21:00 UTC is Friday 23:00 Paris.
    let from = ts("2026-06-11T22:30:00Z");
    let to = ts("2026-06-12T21:00:00Z");
    assert_eq!(extend_for_waiting(&NATIONAL, due, from, to), due);
    // Thursday 21:00 UTC is Thursday 23:00 Paris: one working day (Friday).
    let from = ts("2026-06-11T21:00:00Z");
    assert_eq!(extend_for_waiting(&NATIONAL, due, from, to), ts("2026-06-22T23:59:59+02:00"));
}

#[test]
fn implicit_decision_month_end_clamping() {
    let received = ts("2026-12-31T10:00:00+01:00");
    assert_eq!(implicit_decision_at(received, 2), ts("2027-02-28T23:59:59+01:00"));
    let received = ts("2027-12-31T10:00:00+01:00");
    assert_eq!(implicit_decision_at(received, 2), ts("2028-02-29T23:59:59+01:00"));
}

#[test]
fn implicit_decision_ordinary_dates() {
    let received = ts("2026-03-15T10:00:00+01:00");
    assert_eq!(implicit_decision_at(received, 2), ts("2026-05-15T23:59:59+02:00"));
    assert_eq!(implicit_decision_at(received, 0), ts("2026-03-15T23:59:59+01:00"));
    // Across the autumn DST change.
    let received = ts("2026-08-31T10:00:00+02:00");
    assert_eq!(implicit_decision_at(received, 2), ts("2026-10-31T23:59:59+01:00"));
    // Calendar months, not working days: a weekend result is kept (Sunday 17 January 2027).
    let received = ts("2026-11-17T10:00:00+01:00");
    assert_eq!(implicit_decision_at(received, 2), ts("2027-01-17T23:59:59+01:00"));
    // Paris receipt date, not UTC: 31 December 23:30 UTC is 1 January in Paris.
    let received = ts("2026-12-31T23:30:00Z");
    assert_eq!(implicit_decision_at(received, 2), ts("2027-03-01T23:59:59+01:00"));
}

#[test]
fn elapsed_working_days_counts_paris_dates() {
    let from = ts("2026-03-02T09:00:00+01:00");
    let to = ts("2026-03-09T08:00:00+01:00");
    assert_eq!(elapsed_working_days(&NATIONAL, from, to), 5);
    assert_eq!(elapsed_working_days(&NATIONAL, to, from), 0);
    assert_eq!(elapsed_working_days(&NATIONAL, from, from), 0);
}

#[test]
fn add_then_count_round_trips_for_every_day_of_2024_to_2027() {
    for cal in [NATIONAL, ALSACE] {
        let mut start = date(2024, 1, 1);
        while start.year() <= 2027 {
            for n in 0..=30 {
                let end = add_working_days(&cal, start, n);
                if n > 0 {
                    assert!(cal.is_working_day(end), "{start} + {n} = {end}");
                    assert!(end > start);
                } else {
                    assert_eq!(end, start);
                }
                assert_eq!(working_days_between(&cal, start, end), n, "{start} + {n}");
            }
            start = start.saturating_add(1.day());
        }
    }
}
