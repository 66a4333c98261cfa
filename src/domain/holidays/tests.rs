use jiff::ToSpan;
use jiff::civil::{Date, date};

use super::*;

const NATIONAL: HolidayCalendar = HolidayCalendar { alsace_moselle: false };
const ALSACE: HolidayCalendar = HolidayCalendar { alsace_moselle: true };

#[test]
fn easter_sunday_known_years() {
    assert_eq!(easter_sunday(2024), date(2024, 3, 31));
    assert_eq!(easter_sunday(2025), date(2025, 4, 20));
    assert_eq!(easter_sunday(2026), date(2026, 4, 5));
    assert_eq!(easter_sunday(2027), date(2027, 3, 28));
    assert_eq!(easter_sunday(2008), date(2008, 3, 23));
    assert_eq!(easter_sunday(2011), date(2011, 4, 24));
    assert_eq!(easter_sunday(1975), date(1975, 3, 30));
}

#[test]
fn easter_sunday_extremes() {
    // Latest possible Easter.
    assert_eq!(easter_sunday(1943), date(1943, 4, 25));
    assert_eq!(easter_sunday(2038), date(2038, 4, 25));
    // Earliest possible Easter.
    assert_eq!(easter_sunday(2285), date(2285, 3, 22));
    assert_eq!(easter_sunday(1818), date(1818, 3, 22));
}

#[test]
fn easter_sunday_is_always_a_sunday_in_range() {
    for year in 1583..=4099 {
        let easter = easter_sunday(year);
        assert_eq!(easter.year(), year);
        assert_eq!(easter.weekday(), Weekday::Sunday, "{easter}");
        assert!(easter >= date(year, 3, 22) && easter <= date(year, 4, 25), "{easter}");
    }
}

#[test]
fn easter_sunday_out_of_range_years_do_not_panic() {
    assert_eq!(easter_sunday(i16::MAX).year(), 9999);
    assert_eq!(easter_sunday(i16::MIN).year(), -9999);
    assert_eq!(easter_sunday(-9999).weekday(), Weekday::Sunday);
}

#[test]
fn national_holidays_2026() {
    let expected = vec![
        (date(2026, 1, 1), "Jour de l'an"),
        (date(2026, 4, 6), "Lundi de Pâques"),
        (date(2026, 5, 1), "Fête du Travail"),
        (date(2026, 5, 8), "Victoire 1945"),
        (date(2026, 5, 14), "Ascension"),
        (date(2026, 5, 25), "Lundi de Pentecôte"),
        (date(2026, 7, 14), "Fête nationale"),
        (date(2026, 8, 15), "Assomption"),
        (date(2026, 11, 1), "Toussaint"),
        (date(2026, 11, 11), "Armistice 1918"),
        (date(2026, 12, 25), "Noël"),
    ];
    assert_eq!(NATIONAL.holidays(2026), expected);
}

#[test]
fn alsace_moselle_holidays_2026() {
    let expected = vec![
        (date(2026, 1, 1), "Jour de l'an"),
        (date(2026, 4, 3), "Vendredi saint"),
        (date(2026, 4, 6), "Lundi de Pâques"),
        (date(2026, 5, 1), "Fête du Travail"),
        (date(2026, 5, 8), "Victoire 1945"),
        (date(2026, 5, 14), "Ascension"),
        (date(2026, 5, 25), "Lundi de Pentecôte"),
        (date(2026, 7, 14), "Fête nationale"),
        (date(2026, 8, 15), "Assomption"),
        (date(2026, 11, 1), "Toussaint"),
        (date(2026, 11, 11), "Armistice 1918"),
        (date(2026, 12, 25), "Noël"),
        (date(2026, 12, 26), "Saint-Étienne"),
    ];
    assert_eq!(ALSACE.holidays(2026), expected);
}

#[test]
fn moveable_holidays_2024_and_2025() {
    let names = |year| {
        NATIONAL
            .holidays(year)
            .into_iter()
            .filter(|&(_, name)| matches!(name, "Lundi de Pâques" | "Ascension" | "Lundi de Pentecôte"))
            .map(|(d, _)| d)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(2024), vec![date(2024, 4, 1), date(2024, 5, 9), date(2024, 5, 20)]);
    assert_eq!(names(2025), vec![date(2025, 4, 21), date(2025, 5, 29), date(2025, 6, 9)]);
}

#[test]
fn ascension_on_labour_day_is_listed_once() {
    // Easter 2008 was 23 March, so Ascension fell on 1 May.
    assert_eq!(NATIONAL.holiday_name(date(2008, 5, 1)), Some("Fête du Travail"));
    let holidays = NATIONAL.holidays(2008);
    assert_eq!(holidays.len(), 10);
    assert!(!holidays.iter().any(|&(_, name)| name == "Ascension"));
    // Easter 1975 was 30 March, so Ascension fell on 8 May.
    assert_eq!(NATIONAL.holiday_name(date(1975, 5, 8)), Some("Victoire 1945"));
    assert_eq!(NATIONAL.holidays(1975).len(), 10);
}

#[test]
fn holidays_are_sorted_unique_and_consistent_with_holiday_name() {
    for year in 1900..=2100 {
        for cal in [NATIONAL, ALSACE] {
            let holidays = cal.holidays(year);
            let ascension = easter_sunday(year).saturating_add(39.days());
            let coincide = ascension == date(year, 5, 1) || ascension == date(year, 5, 8);
            let full = if cal.alsace_moselle() { 13 } else { 11 };
            assert_eq!(holidays.len(), full - usize::from(coincide), "{year}");
            assert!(holidays.windows(2).all(|w| w[0].0 < w[1].0), "{year}");
            for &(d, name) in &holidays {
                assert_eq!(d.year(), year);
                assert_eq!(cal.holiday_name(d), Some(name));
            }
            // Every day of the year agrees with the list.
            let mut day = date(year, 1, 1);
            let mut found = 0;
            while day.year() == year {
                if cal.is_holiday(day) {
                    found += 1;
                    assert!(holidays.iter().any(|&(d, _)| d == day), "{day}");
                }
                day = day.saturating_add(1.day());
            }
            assert_eq!(found, holidays.len(), "{year}");
        }
    }
}

#[test]
fn out_of_range_year_has_no_holidays() {
    assert!(NATIONAL.holidays(10_000).is_empty());
    assert!(ALSACE.holidays(-10_000).is_empty());
    assert_eq!(NATIONAL.holidays(9999).len(), 11);
}

#[test]
fn alsace_moselle_extras_only_when_enabled() {
    let good_friday = date(2026, 4, 3);
    let saint_etienne = date(2025, 12, 26);
    assert!(!NATIONAL.is_holiday(good_friday));
    assert!(!NATIONAL.is_holiday(saint_etienne));
    assert_eq!(ALSACE.holiday_name(good_friday), Some("Vendredi saint"));
    assert_eq!(ALSACE.holiday_name(saint_etienne), Some("Saint-Étienne"));
    assert!(NATIONAL.is_working_day(good_friday));
    assert!(!ALSACE.is_working_day(good_friday));
}

#[test]
fn constructor_and_accessor() {
    assert!(HolidayCalendar::new(true).alsace_moselle());
    assert!(!HolidayCalendar::new(false).alsace_moselle());
    assert_eq!(HolidayCalendar::default(), NATIONAL);
}

#[test]
fn working_days() {
    // Ordinary weekdays.
    assert!(NATIONAL.is_working_day(date(2026, 3, 2)));
    assert!(NATIONAL.is_working_day(date(2026, 3, 6)));
    // Weekend.
    assert!(!NATIONAL.is_working_day(date(2026, 3, 7)));
    assert!(!NATIONAL.is_working_day(date(2026, 3, 8)));
    // Holidays on weekdays.
    assert!(!NATIONAL.is_working_day(date(2026, 5, 14)));
    assert!(!NATIONAL.is_working_day(date(2026, 5, 25)));
    assert!(!NATIONAL.is_working_day(date(2026, 12, 25)));
    // A holiday on a Sunday is not moved to the Monday.
    assert!(NATIONAL.is_holiday(date(2026, 11, 1)));
    assert!(NATIONAL.is_working_day(date(2026, 11, 2)));
    // Non-holidays near moveable feasts.
    assert!(!NATIONAL.is_holiday(date(2026, 4, 5)));
    assert!(!NATIONAL.is_holiday(date(2026, 5, 24)));
    assert!(NATIONAL.is_working_day(date(2026, 4, 7)));
}

#[test]
fn holiday_names_fixed_dates() {
    let cases: [(Date, &str); 8] = [
        (date(2027, 1, 1), "Jour de l'an"),
        (date(2027, 5, 1), "Fête du Travail"),
        (date(2027, 5, 8), "Victoire 1945"),
        (date(2027, 7, 14), "Fête nationale"),
        (date(2027, 8, 15), "Assomption"),
        (date(2027, 11, 1), "Toussaint"),
        (date(2027, 11, 11), "Armistice 1918"),
        (date(2027, 12, 25), "Noël"),
    ];
    for (d, name) in cases {
        assert_eq!(NATIONAL.holiday_name(d), Some(name), "{d}");
    }
    assert_eq!(NATIONAL.holiday_name(date(2027, 12, 24)), None);
    assert_eq!(NATIONAL.holiday_name(date(2027, 12, 26)), None);
}
