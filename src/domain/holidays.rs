//! French public holidays (jours fériés) and working days.
//!
//! The national calendar has eleven holidays: eight on fixed dates and three
//! tied to Easter (Lundi de Pâques, Ascension, Lundi de Pentecôte). The
//! Alsace-Moselle local law adds Vendredi saint (Good Friday) and
//! Saint-Étienne (26 December). France never moves a holiday that falls on a
//! weekend, so a holiday on a Saturday or a Sunday simply costs nothing.
//!
//! Lundi de Pentecôte is counted as a holiday: it is a legal holiday even if
//! some employers work it ("journée de solidarité").

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};

/// Earliest year representable by `jiff::civil::Date`.
const MIN_YEAR: i16 = -9999;
/// Latest year representable by `jiff::civil::Date`.
const MAX_YEAR: i16 = 9999;

/// National holidays on a fixed (month, day).
const FIXED: [(i8, i8, &str); 8] = [
    (1, 1, "Jour de l'an"),
    (5, 1, "Fête du Travail"),
    (5, 8, "Victoire 1945"),
    (7, 14, "Fête nationale"),
    (8, 15, "Assomption"),
    (11, 1, "Toussaint"),
    (11, 11, "Armistice 1918"),
    (12, 25, "Noël"),
];

/// Alsace-Moselle holiday on a fixed (month, day).
const ALSACE_MOSELLE_FIXED: (i8, i8, &str) = (12, 26, "Saint-Étienne");

/// National holidays as an offset in days from Easter Sunday.
const MOVEABLE: [(i16, &str); 3] = [(1, "Lundi de Pâques"), (39, "Ascension"), (50, "Lundi de Pentecôte")];

/// Alsace-Moselle holiday as an offset in days from Easter Sunday.
const ALSACE_MOSELLE_MOVEABLE: (i16, &str) = (-2, "Vendredi saint");

/// French public holidays (jours fériés), optionally with the two Alsace-Moselle extras.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HolidayCalendar {
    alsace_moselle: bool,
}

impl HolidayCalendar {
    /// A calendar for the whole of France, plus the Alsace-Moselle holidays when asked.
    pub const fn new(alsace_moselle: bool) -> Self {
        Self { alsace_moselle }
    }

    /// Whether the two Alsace-Moselle holidays are included.
    pub const fn alsace_moselle(&self) -> bool {
        self.alsace_moselle
    }

    /// Holidays of a year, sorted by date, with their French name.
    ///
    /// There is one entry per date: when two holidays fall on the same day
    /// (Ascension can coincide with 1 or 8 May, e.g. 1 May 2008), the entry
    /// carries the name returned by [`HolidayCalendar::holiday_name`], which
    /// prefers the fixed-date holiday. Years outside jiff's range
    /// (-9999..=9999) have no holidays.
    pub fn holidays(&self, year: i16) -> Vec<(Date, &'static str)> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Vec::new();
        }
        let mut dates: Vec<Date> = Vec::with_capacity(13);
        let fixed = FIXED
            .iter()
            .map(|&(m, d, _)| (m, d))
            .chain(self.alsace_moselle.then_some((ALSACE_MOSELLE_FIXED.0, ALSACE_MOSELLE_FIXED.1)));
        dates.extend(fixed.filter_map(|(m, d)| Date::new(year, m, d).ok()));
        let easter = easter_sunday(year);
        let moveable =
            MOVEABLE.iter().map(|&(offset, _)| offset).chain(self.alsace_moselle.then_some(ALSACE_MOSELLE_MOVEABLE.0));
        dates.extend(moveable.filter_map(|offset| easter.checked_add(offset.days()).ok()));
        dates.sort_unstable();
        dates.dedup();
        dates.into_iter().filter_map(|date| self.holiday_name(date).map(|name| (date, name))).collect()
    }

    /// The French name of the holiday on `date`, if any.
    ///
    /// Fixed-date holidays take precedence over Easter-based ones when both
    /// fall on the same day. Does not allocate; computes Easter at most once.
    pub fn holiday_name(&self, date: Date) -> Option<&'static str> {
        let (month, day) = (date.month(), date.day());
        if let Some(&(_, _, name)) = FIXED.iter().find(|&&(m, d, _)| m == month && d == day) {
            return Some(name);
        }
        if self.alsace_moselle && (month, day) == (ALSACE_MOSELLE_FIXED.0, ALSACE_MOSELLE_FIXED.1) {
            return Some(ALSACE_MOSELLE_FIXED.2);
        }
        // Easter-based holidays range from Good Friday (20 March at the
        // earliest) to Whit Monday (14 June at the latest).
        if !(3..=6).contains(&month) {
            return None;
        }
        let easter = easter_sunday(date.year());
        // Both dates are in the same year, so the ordinal difference is the
        // number of days between them.
        let offset = date.day_of_year() - easter.day_of_year();
        if let Some(&(_, name)) = MOVEABLE.iter().find(|&&(o, _)| o == offset) {
            return Some(name);
        }
        if self.alsace_moselle && offset == ALSACE_MOSELLE_MOVEABLE.0 {
            return Some(ALSACE_MOSELLE_MOVEABLE.1);
        }
        None
    }

    /// Whether `date` is a public holiday in this calendar.
    pub fn is_holiday(&self, date: Date) -> bool {
        self.holiday_name(date).is_some()
    }

    /// Monday to Friday and not a holiday.
    pub fn is_working_day(&self, date: Date) -> bool {
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && !self.is_holiday(date)
    }
}

/// Gregorian Easter Sunday (anonymous Gregorian / Meeus-Jones-Butcher algorithm).
///
/// The proleptic Gregorian rule is applied to every year. Years outside
/// jiff's range (-9999..=9999) are clamped into it.
pub fn easter_sunday(year: i16) -> Date {
    let year = year.clamp(MIN_YEAR, MAX_YEAR);
    let y = i32::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    // With the Euclidean remainders above, 0 <= h <= 29, 0 <= l <= 6 and
    // 0 <= m <= 1, so the month is 3 or 4 and the day 1..=31 is valid for it
    // (the result is between 22 March and 25 April).
    let month = if n / 31 == 3 { 3 } else { 4 };
    let day = i8::try_from(n % 31 + 1).unwrap_or(1);
    // Infallible for the clamped year and the month/day range shown above;
    // the fallback only exists to avoid a panic path.
    Date::new(year, month, day).unwrap_or_else(|_| Date::constant(year, 4, 1))
}

#[cfg(test)]
mod tests;
