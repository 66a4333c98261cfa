//! User-interface text, loaded from `assets/locales/{lang}.toml` (embedded in the binary),
//! and French formatting of dates.

use std::collections::HashMap;
use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::civil::{Date, Time};

use crate::domain::sla;

pub struct Locale {
    strings: HashMap<String, String>,
}

static FRENCH: LazyLock<Locale> = LazyLock::new(|| Locale::parse(include_str!("../assets/locales/fr.toml")));

impl Locale {
    pub fn french() -> &'static Locale {
        &FRENCH
    }

    fn parse(source: &str) -> Locale {
        let mut strings = HashMap::new();
        // A malformed locale file is caught by the unit test below, not at run time.
        let table: toml::Table = toml::from_str(source).unwrap_or_default();
        for (section, values) in table {
            if let toml::Value::Table(values) = values {
                for (key, value) in values {
                    if let toml::Value::String(text) = value {
                        strings.insert(format!("{section}.{key}"), text);
                    }
                }
            }
        }
        Locale { strings }
    }

    /// The text for `key`, or the key itself when missing (visible, never a crash).
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.strings.get(key).map(String::as_str).unwrap_or(key)
    }

    pub fn tf(&self, section: &str, key: &str) -> &str {
        self.strings.get(&format!("{section}.{key}")).map(String::as_str).unwrap_or("?")
    }

    /// `lundi 23 novembre 2026`, in Paris time.
    pub fn date(&self, at: &Timestamp) -> String {
        self.civil_date(&sla::paris_date(*at))
    }

    /// `lundi 23 novembre 2026`.
    pub fn civil_date(&self, d: &Date) -> String {
        let weekday = d.weekday().to_monday_zero_offset().to_string();
        let day = if d.day() == 1 { "1er".to_owned() } else { d.day().to_string() };
        format!("{} {day} {} {}", self.tf("day", &weekday), self.tf("month", &d.month().to_string()), d.year())
    }

    /// `novembre 2026`.
    pub fn month_year(&self, d: &Date) -> String {
        format!("{} {}", self.tf("month", &d.month().to_string()), d.year())
    }

    /// `lundi`, the day of the week of `d`.
    pub fn weekday(&self, d: &Date) -> &str {
        self.tf("day", &d.weekday().to_monday_zero_offset().to_string())
    }

    /// `18 h 30`.
    pub fn time(&self, t: &Time) -> String {
        format!("{} h {:02}", t.hour(), t.minute())
    }

    /// `lundi 23 novembre 2026 à 9 h 05`, in Paris time.
    pub fn date_time(&self, at: &Timestamp) -> String {
        let t = sla::paris().to_datetime(*at);
        format!("{} à {} h {:02}", self.date(at), t.hour(), t.minute())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_french_file_parses_and_covers_every_status_and_channel() {
        let l = Locale::french();
        assert!(l.strings.len() > 60);
        for s in crate::domain::status::Status::ALL {
            assert_ne!(l.tf("status", s.as_str()), "?", "{s:?}");
        }
        for c in crate::domain::request::Channel::ALL {
            assert_ne!(l.tf("channel", c.as_str()), "?", "{c:?}");
        }
    }

    #[test]
    fn dates_read_as_in_french_letters() {
        let l = Locale::french();
        let at: Timestamp = "2026-11-23T08:05:00Z".parse().unwrap();
        assert_eq!(l.date_time(&at), "lundi 23 novembre 2026 à 9 h 05");
        let first: Timestamp = "2026-07-01T21:30:00Z".parse().unwrap();
        assert_eq!(l.date(&first), "mercredi 1er juillet 2026");
    }
}
