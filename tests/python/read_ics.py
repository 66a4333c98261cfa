"""Reads an iCalendar feed on standard input with the `icalendar` package and expands its
events with `dateutil.rrule`, independently of Guichet. Prints one JSON object:
{"name": ..., "events": [{"uid", "summary", "status", "location", "description", "class",
"all_day", "occurrences": [UTC ISO instants of the starts between FROM and TO]}]}.

Usage: python3 read_ics.py FROM TO   (ISO instants, UTC)
"""

import json
import sys
from datetime import date, datetime, time, timezone

from dateutil.rrule import rruleset, rrulestr
from icalendar import Calendar


def utc(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.combine(value, time(0), tzinfo=timezone.utc)


def main():
    start, end = (datetime.fromisoformat(a.replace("Z", "+00:00")) for a in sys.argv[1:3])
    calendar = Calendar.from_ical(sys.stdin.buffer.read())
    out = {"name": str(calendar.get("X-WR-CALNAME", "")), "events": []}
    for event in calendar.walk("VEVENT"):
        first = event.decoded("DTSTART")
        all_day = isinstance(first, date) and not isinstance(first, datetime)
        if "RRULE" in event:
            rules = rruleset()
            rule_text = event["RRULE"].to_ical().decode()
            anchor = datetime.combine(first, time(0)) if all_day else first
            rules.rrule(rrulestr(rule_text, dtstart=anchor))
            exdates = event.get("EXDATE", [])
            for group in exdates if isinstance(exdates, list) else [exdates]:
                for d in group.dts:
                    value = d.dt
                    rules.exdate(datetime.combine(value, time(0)) if all_day else value)
            starts = [utc(s) for s in rules]
        else:
            starts = [utc(first)]
        occurrences = [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in starts if start <= s < end]
        out["events"].append(
            {
                "uid": str(event["UID"]),
                "summary": str(event.get("SUMMARY", "")),
                "status": str(event.get("STATUS", "")),
                "location": str(event.get("LOCATION", "")),
                "description": str(event.get("DESCRIPTION", "")),
                "class": str(event.get("CLASS", "")),
                "all_day": all_day,
                "occurrences": occurrences,
            }
        )
    json.dump(out, sys.stdout, ensure_ascii=False)


main()
