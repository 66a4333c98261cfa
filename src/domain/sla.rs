//! Legal processing delays ("délai maximal") counted in working days.
//!
//! Every civil date is taken in the Europe/Paris time zone, whatever the
//! offset of the instant given: a request received at 00:30 Paris time on a
//! Saturday is a Saturday request even though it is still Friday in UTC.
//!
//! A delay of `n` working days ends at the end (23:59:59 Paris time) of the
//! `n`-th working day strictly after the receipt date. Only working days are
//! counted, so a request received on a Saturday or a holiday naturally
//! counts from the next working day.

use std::sync::LazyLock;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{Span, Timestamp};

use super::holidays::HolidayCalendar;

/// Upper bound on the number of working days `add_working_days` walks
/// (about fourteen years), so that absurd inputs still terminate quickly.
pub const MAX_WORKING_DAYS: u32 = 3650;

/// Time of day at which a delay expires.
const END_OF_DAY: Time = Time::constant(23, 59, 59, 0);

/// Seconds in a civil day (civil dates have no DST).
const SECONDS_PER_DAY: i64 = 86_400;

/// Europe/Paris, looked up once in the tz database compiled into the binary
/// (no file system access).
static PARIS: LazyLock<TimeZone> =
    LazyLock::new(|| TimeZoneDatabase::bundled().get("Europe/Paris").unwrap_or(TimeZone::UTC));

/// The Europe/Paris time zone (UTC only if the bundled database lacks it).
pub fn paris() -> &'static TimeZone {
    &PARIS
}

/// Civil date in Europe/Paris of an instant.
pub fn paris_date(at: Timestamp) -> Date {
    paris().to_datetime(at).date()
}

/// 23:59:59 Paris time on `date`, as an instant (DST-correct: 23:59:59 is
/// never inside a Paris DST transition). Saturates at the ends of the
/// supported range.
fn end_of_day(date: Date) -> Timestamp {
    let dt = DateTime::from_parts(date, END_OF_DAY);
    paris().to_timestamp(dt).unwrap_or(if date.year() < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

/// The n-th working day strictly after `start` (n = 0 returns `start`).
///
/// `n` is capped at [`MAX_WORKING_DAYS`]; the walk stops at `Date::MAX`.
pub fn add_working_days(cal: &HolidayCalendar, start: Date, n: u32) -> Date {
    let mut remaining = n.min(MAX_WORKING_DAYS);
    let mut date = start;
    while remaining > 0 {
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
        if cal.is_working_day(date) {
            remaining -= 1;
        }
    }
    date
}

/// Number of working days d with from < d <= to (0 if to <= from).
///
/// Counts Monday-to-Friday days arithmetically, then removes the holidays of
/// each year spanned that fall on a weekday inside the range.
pub fn working_days_between(cal: &HolidayCalendar, from: Date, to: Date) -> u32 {
    if to <= from {
        return 0;
    }
    let days = to.duration_since(from).as_secs() / SECONDS_PER_DAY;
    let weekdays = (days / 7) * 5 + partial_week_weekdays(from.weekday(), days % 7);
    let holidays: i64 = (from.year()..=to.year())
        .map(|year| {
            let in_range = cal
                .holidays(year)
                .into_iter()
                .filter(|&(d, _)| from < d && d <= to && !is_weekend(d.weekday()))
                .count();
            i64::try_from(in_range).unwrap_or(i64::MAX)
        })
        .sum();
    u32::try_from(weekdays.saturating_sub(holidays).max(0)).unwrap_or(u32::MAX)
}

/// Number of Monday-to-Friday days among the `rest` (< 7) days following a
/// day whose weekday is `after`.
fn partial_week_weekdays(after: Weekday, rest: i64) -> i64 {
    let mut count = 0;
    let mut weekday = after;
    for _ in 0..rest {
        weekday = weekday.next();
        if !is_weekend(weekday) {
            count += 1;
        }
    }
    count
}

fn is_weekend(weekday: Weekday) -> bool {
    matches!(weekday, Weekday::Saturday | Weekday::Sunday)
}

/// Due instant for a request received at `received_at` with a delay of `working_days`:
/// the end of the n-th working day after the Paris receipt date, i.e. 23:59:59 Paris time
/// of that day (DST-correct), as a Timestamp. A request received on a Saturday or a holiday
/// counts from the next working day naturally because only working days are counted.
pub fn due_at(cal: &HolidayCalendar, received_at: Timestamp, working_days: u32) -> Timestamp {
    end_of_day(add_working_days(cal, paris_date(received_at), working_days))
}

/// Push a due instant later by the working days spent waiting (status "waiting" pauses the delay):
/// the number of working days in (paris_date(from), paris_date(to)] is added in working days to
/// the due date (keeping the 23:59:59 end-of-day time). Waiting that starts and ends the same day
/// costs nothing, and then `due` is returned unchanged.
pub fn extend_for_waiting(cal: &HolidayCalendar, due: Timestamp, from: Timestamp, to: Timestamp) -> Timestamp {
    let waited = elapsed_working_days(cal, from, to);
    if waited == 0 {
        return due;
    }
    end_of_day(add_working_days(cal, paris_date(due), waited))
}

/// Date of implicit decision (silence vaut décision, CRPA L231-1): `months` calendar months
/// after the Paris receipt date (month-end clamped: 31 Dec + 2 months = 28/29 Feb), end of
/// that day.
pub fn implicit_decision_at(received_at: Timestamp, months: u8) -> Timestamp {
    let received = paris_date(received_at);
    end_of_day(received.saturating_add(Span::new().months(i64::from(months))))
}

/// Whole working days elapsed between two instants in Paris dates (used for average
/// processing time), same counting as `working_days_between`.
pub fn elapsed_working_days(cal: &HolidayCalendar, from: Timestamp, to: Timestamp) -> u32 {
    working_days_between(cal, paris_date(from), paris_date(to))
}

#[cfg(test)]
mod tests;
