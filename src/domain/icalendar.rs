//! iCalendar (RFC 5545) for agendas: a feed of events for calendar programs (Thunderbird,
//! Outlook, phones) and single-event files. Times are written in Europe/Paris with its
//! VTIMEZONE, so that a repeated event keeps its local time across the changes of hour;
//! cancelled events are kept with `STATUS:CANCELLED` so that subscribers drop them.

use std::fmt::Write;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};

use super::agenda::{Event, EventVisibility, Frequency, TIME_ZONE, Timing, time_zone};

/// Europe/Paris as the European Union has set it since 1996.
const VTIMEZONE: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n\
BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

/// A calendar named `name` holding `events`; `host` qualifies the UIDs (`evt-…@host`).
pub fn calendar(name: &str, host: &str, events: &[Event]) -> String {
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//Guichet//Agenda//FR");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
    line(&mut out, &format!("X-WR-TIMEZONE:{TIME_ZONE}"));
    out.push_str(VTIMEZONE);
    for event in events {
        vevent(&mut out, host, event);
    }
    line(&mut out, "END:VCALENDAR");
    out
}

fn vevent(out: &mut String, host: &str, e: &Event) {
    line(out, "BEGIN:VEVENT");
    line(out, &format!("UID:{}@{host}", e.id));
    line(out, &format!("DTSTAMP:{}", utc(e.updated_at)));
    line(out, &format!("CREATED:{}", utc(e.created_at)));
    line(out, &format!("LAST-MODIFIED:{}", utc(e.updated_at)));
    line(out, &format!("SEQUENCE:{}", e.version.saturating_sub(1)));
    match e.timing {
        Timing::AllDay { start, end } => {
            line(out, &format!("DTSTART;VALUE=DATE:{}", date(start)));
            // DTEND of an all-day event is the day after its last day.
            let after = end.tomorrow().unwrap_or(end);
            line(out, &format!("DTEND;VALUE=DATE:{}", date(after)));
        }
        Timing::Timed { start, end } => {
            line(out, &format!("DTSTART;TZID={TIME_ZONE}:{}", local(start)));
            line(out, &format!("DTEND;TZID={TIME_ZONE}:{}", local(end)));
        }
    }
    if let Some(r) = &e.recurrence {
        let freq = match r.frequency {
            Frequency::Daily => "DAILY",
            Frequency::Weekly => "WEEKLY",
            Frequency::Monthly => "MONTHLY",
        };
        let mut rule = format!("RRULE:FREQ={freq};INTERVAL={}", r.interval);
        if let Some(count) = r.count {
            let _ = write!(rule, ";COUNT={count}");
        }
        if let Some(until) = r.until {
            // With a DTSTART in local time, UNTIL is the last instant, in UTC.
            let _ = write!(rule, ";UNTIL={}", until_of(&e.timing, until));
        }
        line(out, &rule);
        for exception in &r.exceptions {
            match e.timing {
                Timing::AllDay { .. } => line(out, &format!("EXDATE;VALUE=DATE:{}", date(*exception))),
                Timing::Timed { start, .. } => {
                    line(out, &format!("EXDATE;TZID={TIME_ZONE}:{}", local(exception.to_datetime(start.time()))));
                }
            }
        }
    }
    line(out, &format!("SUMMARY:{}", text(&e.title)));
    if !e.description.is_empty() {
        line(out, &format!("DESCRIPTION:{}", text(&e.description)));
    }
    if !e.place.is_empty() {
        line(out, &format!("LOCATION:{}", text(&e.place)));
    }
    let class = match e.visibility {
        EventVisibility::Public => "PUBLIC",
        EventVisibility::Internal | EventVisibility::Restricted => "PRIVATE",
    };
    line(out, &format!("CLASS:{class}"));
    line(out, if e.cancelled { "STATUS:CANCELLED" } else { "STATUS:CONFIRMED" });
    line(out, "END:VEVENT");
}

/// The last instant of the repetition: the end of its last day for an all-day event (as a
/// date), the start of its last occurrence for a timed one.
fn until_of(timing: &Timing, until: Date) -> String {
    match timing {
        Timing::AllDay { .. } => date(until),
        Timing::Timed { start, .. } => {
            let last = until.to_datetime(start.time());
            match last.to_zoned(time_zone()) {
                Ok(z) => utc(z.timestamp()),
                Err(_) => date(until),
            }
        }
    }
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn local(dt: DateTime) -> String {
    dt.strftime("%Y%m%dT%H%M%S").to_string()
}

fn date(d: Date) -> String {
    d.strftime("%Y%m%d").to_string()
}

/// TEXT values: backslash, semicolon, comma and new lines escaped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line, folded at 75 octets (never inside a UTF-8 character), ended by CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use jiff::civil::date as d;

    use super::*;
    use crate::domain::agenda::Recurrence;

    fn event() -> Event {
        let at: Timestamp = "2026-01-05T10:00:00Z".parse().unwrap();
        Event {
            id: "evt-0123".into(),
            agenda: "general".into(),
            owner: "https://mairie.example".into(),
            version: 3,
            title: "Conseil municipal; budget, vote".into(),
            description: "Ordre du jour :\n1. Budget".into(),
            place: "Salle du conseil".into(),
            timing: Timing::Timed { start: d(2026, 3, 17).at(18, 30, 0, 0), end: d(2026, 3, 17).at(20, 0, 0, 0) },
            recurrence: Some(Recurrence {
                frequency: Frequency::Weekly,
                interval: 2,
                until: Some(d(2026, 6, 30)),
                count: None,
                exceptions: vec![d(2026, 4, 14)],
            }),
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

    #[test]
    fn an_event_is_written_with_its_zone_rule_and_escaped_text() {
        let ics = calendar("Agenda, mairie", "mairie.example", &[event()]);
        for expected in [
            "BEGIN:VCALENDAR\r\n",
            "X-WR-CALNAME:Agenda\\, mairie\r\n",
            "TZID:Europe/Paris\r\n",
            "UID:evt-0123@mairie.example\r\n",
            "SEQUENCE:2\r\n",
            "DTSTART;TZID=Europe/Paris:20260317T183000\r\n",
            "DTEND;TZID=Europe/Paris:20260317T200000\r\n",
            // 30 June 18:30 in Paris is 16:30 UTC.
            "RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20260630T163000Z\r\n",
            "EXDATE;TZID=Europe/Paris:20260414T183000\r\n",
            "SUMMARY:Conseil municipal\\; budget\\, vote\r\n",
            "DESCRIPTION:Ordre du jour :\\n1. Budget\r\n",
            "STATUS:CONFIRMED\r\n",
            "END:VCALENDAR\r\n",
        ] {
            assert!(ics.contains(expected), "{expected:?} missing from\n{ics}");
        }
    }

    #[test]
    fn all_day_events_end_the_day_after_and_cancelled_ones_say_so() {
        let e = Event {
            timing: Timing::AllDay { start: d(2026, 7, 14), end: d(2026, 7, 14) },
            recurrence: None,
            cancelled: true,
            ..event()
        };
        let ics = calendar("Agenda", "mairie.example", &[e]);
        assert!(ics.contains("DTSTART;VALUE=DATE:20260714\r\nDTEND;VALUE=DATE:20260715\r\n"), "{ics}");
        assert!(ics.contains("STATUS:CANCELLED\r\n"));
    }

    #[test]
    fn long_lines_are_folded_without_cutting_a_character() {
        let e = Event { title: "é".repeat(100), ..event() };
        let ics = calendar("Agenda", "mairie.example", &[e]);
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let summary: String =
            ics.split("\r\n").skip_while(|l| !l.starts_with("SUMMARY:")).take(3).collect::<Vec<_>>().join("\r\n");
        let unfolded = summary.replace("\r\n ", "");
        assert!(unfolded.starts_with(&format!("SUMMARY:{}", "é".repeat(100))), "{unfolded}");
    }
}
