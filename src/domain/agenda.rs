//! Agendas and their events: one-off or recurring (daily, weekly, monthly; until a date or a
//! number of times; with exceptions), at a time of day in the collectivité's time zone
//! (Europe/Paris) or all-day. Every event has an owner instance and a version raised at each
//! change, and a cancelled event stays as a tombstone: federation shares events this way
//! (`agenda.event.upsert`, `agenda.event.cancel`; the owner alone writes, the last version
//! wins).

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Unit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Error, Result};

/// The time zone events are written in.
pub const TIME_ZONE: &str = "Europe/Paris";

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Occurrences expanded at most for one event in one window (a daily event over ten years).
pub const MAX_OCCURRENCES: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agenda {
    pub id: String,
    pub name: String,
    /// The department whose agenda it is; none: the collectivité's.
    #[serde(default)]
    pub department: Option<String>,
    /// Base URL of the instance that owns it.
    pub owner: String,
    pub version: u64,
    pub created_at: Timestamp,
    /// Its events (but restricted ones) are sent to every paired instance.
    #[serde(default)]
    pub shared: bool,
    /// A paired instance's shared agenda, as received from it (its base URL): read-only
    /// here.
    #[serde(default)]
    pub peer: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventVisibility {
    /// On the citizen portal and in public feeds.
    Public,
    /// Every agent and elected official.
    Internal,
    /// The attendees and the agenda's department only.
    Restricted,
}

impl EventVisibility {
    pub const ALL: [EventVisibility; 3] =
        [EventVisibility::Public, EventVisibility::Internal, EventVisibility::Restricted];

    pub fn as_str(self) -> &'static str {
        match self {
            EventVisibility::Public => "public",
            EventVisibility::Internal => "internal",
            EventVisibility::Restricted => "restricted",
        }
    }

    pub fn parse(s: &str) -> Option<EventVisibility> {
        EventVisibility::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// When an event takes place, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Timing {
    /// From `start` to `end` (both included).
    AllDay {
        #[schema(value_type = String)]
        start: Date,
        #[schema(value_type = String)]
        end: Date,
    },
    /// From `start` to `end`, wall-clock times in `TIME_ZONE`.
    Timed {
        #[schema(value_type = String)]
        start: DateTime,
        #[schema(value_type = String)]
        end: DateTime,
    },
}

impl Timing {
    pub fn start_date(&self) -> Date {
        match self {
            Timing::AllDay { start, .. } => *start,
            Timing::Timed { start, .. } => start.date(),
        }
    }

    /// The last day it covers.
    pub fn end_date(&self) -> Date {
        match self {
            Timing::AllDay { end, .. } => *end,
            Timing::Timed { end, .. } => end.date(),
        }
    }

    /// The same timing moved to start on `date`, its length kept.
    fn on(&self, date: Date) -> Result<Timing> {
        Ok(match *self {
            Timing::AllDay { start, end } => {
                let days = start.until(end).map_err(internal)?;
                Timing::AllDay { start: date, end: date.checked_add(days).map_err(internal)? }
            }
            Timing::Timed { start, end } => {
                let span = start.until(end).map_err(internal)?;
                let moved = date.to_datetime(start.time());
                Timing::Timed { start: moved, end: moved.checked_add(span).map_err(internal)? }
            }
        })
    }
}

fn internal(e: jiff::Error) -> Error {
    Error::Internal(format!("date arithmetic: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    pub const ALL: [Frequency; 3] = [Frequency::Daily, Frequency::Weekly, Frequency::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Option<Frequency> {
        Frequency::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Repetition, as iCalendar's RRULE says it: every `interval` days, weeks (same weekday) or
/// months (same day of the month; months without that day are skipped), until a date
/// (included) or a number of times, except on some dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recurrence {
    pub frequency: Frequency,
    pub interval: u32,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub until: Option<Date>,
    #[serde(default)]
    pub count: Option<u32>,
    /// Dates on which the event does not take place.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub exceptions: Vec<Date>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub id: String,
    pub agenda: String,
    /// Base URL of the instance that owns it: the only one that may change it.
    pub owner: String,
    /// Raised at every change, cancellation included.
    pub version: u64,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub place: String,
    pub timing: Timing,
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
    /// Account ids (agents, elected officials, guests).
    #[serde(default)]
    pub attendees: Vec<String>,
    pub visibility: EventVisibility,
    /// Requests this event concerns (a works project and the complaints about it).
    #[serde(default)]
    pub requests: Vec<u64>,
    /// A topic where it is discussed.
    #[serde(default)]
    pub topic: Option<String>,
    /// A tombstone: the event was cancelled.
    #[serde(default)]
    pub cancelled: bool,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One occurrence of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub timing: Timing,
    /// Its instants: the start and the end (for an all-day event, midnight to midnight).
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

pub fn time_zone() -> TimeZone {
    // Bundled with the binary (jiff's `tzdb-bundle-always`): always there.
    TimeZone::get(TIME_ZONE).unwrap_or(TimeZone::UTC)
}

impl Event {
    pub fn validate(&self) -> Result<()> {
        let chars = |s: &str| s.chars().count();
        if self.title.trim().is_empty() || chars(&self.title) > MAX_TITLE_CHARS {
            return Err(Error::invalid("invalid_title", "title", "between 1 and 200 characters"));
        }
        if chars(&self.description) > MAX_TEXT_CHARS || chars(&self.place) > MAX_TITLE_CHARS {
            return Err(Error::invalid("too_long", "description", "description or place too long"));
        }
        let ordered = match self.timing {
            Timing::AllDay { start, end } => start <= end,
            Timing::Timed { start, end } => start < end,
        };
        if !ordered {
            return Err(Error::invalid("invalid_end", "end", "the end comes after the start"));
        }
        if let Some(r) = &self.recurrence {
            if r.interval == 0 || r.interval > 366 {
                return Err(Error::invalid("invalid_interval", "interval", "between 1 and 366"));
            }
            if r.until.is_some() && r.count.is_some() {
                return Err(Error::invalid("invalid_recurrence", "until", "an end date or a count, not both"));
            }
            if r.count.is_some_and(|c| c == 0 || c > 1000) {
                return Err(Error::invalid("invalid_count", "count", "between 1 and 1000"));
            }
            if r.until.is_some_and(|u| u < self.timing.start_date()) {
                return Err(Error::invalid("invalid_until", "until", "the repetition ends after the first date"));
            }
            if r.exceptions.len() > 500 {
                return Err(Error::invalid("too_many_exceptions", "exceptions", "at most 500"));
            }
        }
        Ok(())
    }

    /// The dates on which the event starts, in order, from `wanted` to `last` (included),
    /// at most `MAX_OCCURRENCES` of them.
    fn start_dates(&self, wanted: Date, last: Date) -> Result<Vec<Date>> {
        let first = self.timing.start_date();
        let Some(r) = &self.recurrence else {
            return Ok(if first <= last { vec![first] } else { Vec::new() });
        };
        let interval = i64::from(r.interval);
        let end = r.until.map_or(last, |u| u.min(last));
        let mut dates = Vec::new();
        // `counted`: occurrences generated by the rule, exceptions included (as RFC 5545
        // counts them: EXDATE removes from the set COUNT produced).
        let mut counted = 0u32;
        // Without a count, the repetitions before `wanted` need not be walked one by one (a
        // daily event started years ago): start one step before it.
        let mut skipped = 0;
        if r.count.is_none() && wanted > first {
            skipped = match r.frequency {
                Frequency::Daily => i64::from(first.until(wanted).map_err(internal)?.get_days()) / interval,
                Frequency::Weekly => i64::from(first.until(wanted).map_err(internal)?.get_days()) / (7 * interval),
                Frequency::Monthly => {
                    i64::from(first.until((Unit::Month, wanted)).map_err(internal)?.get_months()) / interval
                }
            };
            skipped = (skipped - 1).max(0);
        }
        for step in skipped.. {
            let date = match r.frequency {
                Frequency::Daily => first.checked_add((step * interval).days()),
                Frequency::Weekly => first.checked_add((step * interval * 7).days()),
                Frequency::Monthly => {
                    // The same day of the month; a month without it has no occurrence.
                    let month = first.first_of_month().checked_add((step * interval).months()).map_err(internal)?;
                    if first.day() > month.days_in_month() {
                        if month > end {
                            break;
                        }
                        continue;
                    }
                    Ok(month.with().day(first.day()).build().map_err(internal)?)
                }
            };
            let Ok(date) = date else { break };
            if date > end || r.count.is_some_and(|c| counted >= c) || dates.len() >= MAX_OCCURRENCES {
                break;
            }
            counted += 1;
            if date >= wanted && !r.exceptions.contains(&date) {
                dates.push(date);
            }
        }
        Ok(dates)
    }

    /// The occurrences that overlap `[from, to)`, in order.
    pub fn occurrences(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Occurrence>> {
        let tz = time_zone();
        let last = to.to_zoned(tz.clone()).date();
        // An occurrence that started before `from` may still run into it.
        let (start, end) = (self.timing.start_date(), self.timing.end_date());
        let length_days = i64::from(start.until(end).map_err(internal)?.get_days());
        let wanted = from.to_zoned(tz.clone()).date().checked_sub((length_days + 1).days()).map_err(internal)?;
        let mut out = Vec::new();
        for date in self.start_dates(wanted, last)? {
            let timing = self.timing.on(date)?;
            let (starts_at, ends_at) = instants(&timing, &tz)?;
            if ends_at > from && starts_at < to {
                out.push(Occurrence { timing, starts_at, ends_at });
            }
        }
        Ok(out)
    }
}

/// The instants of a timing: wall-clock times resolved in `tz` (a time skipped by the
/// spring change moves forward, a repeated one takes its first instance, as RFC 5545 says).
fn instants(timing: &Timing, tz: &TimeZone) -> Result<(Timestamp, Timestamp)> {
    let at = |dt: DateTime| dt.to_zoned(tz.clone()).map(|z| z.timestamp()).map_err(internal);
    Ok(match *timing {
        Timing::AllDay { start, end } => {
            let midnight = jiff::civil::Time::midnight();
            (at(start.to_datetime(midnight))?, at(end.tomorrow().map_err(internal)?.to_datetime(midnight))?)
        }
        Timing::Timed { start, end } => (at(start)?, at(end)?),
    })
}

#[cfg(test)]
mod tests;
