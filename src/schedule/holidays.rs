//! Japanese national holidays (国民の祝日, 振替休日, 国民の休日).
//!
//! Years published by the Cabinet Office are read from `holidays_jp.csv`,
//! shipped with the code; other years come from the rules in the `jpholiday`
//! crate. The published table wins because the law can move a holiday (as it
//! did for the 2020 and 2021 Olympics) in ways rules cannot foresee.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};

const PUBLISHED: &str = include_str!("holidays_jp.csv");

fn published() -> &'static BTreeMap<NaiveDate, &'static str> {
    static TABLE: OnceLock<BTreeMap<NaiveDate, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        PUBLISHED
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let (date, name) = line.split_once(',')?;
                Some((
                    NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?,
                    name.trim(),
                ))
            })
            .collect()
    })
}

fn published_years() -> impl Iterator<Item = i32> {
    published().keys().map(|date| date.year())
}

/// Whether the published table lists `year`'s holidays (other years come
/// from rules, which cannot know of a holiday moved by law).
pub fn published_covers(year: i32) -> bool {
    published_years().any(|listed| listed == year)
}

/// The name of the national holiday on `date`, if it is one.
pub fn national_holiday(date: NaiveDate) -> Option<String> {
    if published_years().any(|year| year == date.year()) {
        return published().get(&date).map(|name| name.to_string());
    }
    jpholiday::jpholiday::JPHoliday::new().is_holiday_name(&date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn holidays_in(year: i32) -> Vec<NaiveDate> {
        let mut day = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        let mut found = Vec::new();
        while day.year() == year {
            if national_holiday(day).is_some() {
                found.push(day);
            }
            day = day.succ_opt().unwrap();
        }
        found
    }

    #[test]
    fn the_cabinet_office_lists_18_holidays_in_2026_and_17_in_2027() {
        assert_eq!(holidays_in(2026).len(), 18);
        assert_eq!(holidays_in(2027).len(), 17);
    }

    #[test]
    fn substitute_and_citizens_holidays_are_included() {
        for day in ["2026-05-06", "2026-09-22", "2027-03-22"] {
            assert!(national_holiday(date(day)).is_some(), "{day} is a holiday");
        }
        assert_eq!(
            national_holiday(date("2026-09-21")).as_deref(),
            Some("敬老の日")
        );
    }

    #[test]
    fn ordinary_days_are_not_holidays() {
        for day in ["2026-12-01", "2026-05-07", "2027-03-23", "2026-12-31"] {
            assert!(
                national_holiday(date(day)).is_none(),
                "{day} is not a holiday"
            );
        }
    }

    #[test]
    fn the_table_covers_2026_and_2027_and_no_other_year() {
        assert!(published_covers(2026));
        assert!(published_covers(2027));
        assert!(!published_covers(2025));
        assert!(!published_covers(2028));
    }

    #[test]
    fn years_beyond_the_table_fall_back_to_the_rules() {
        assert!(national_holiday(date("2028-01-01")).is_some());
        assert!(national_holiday(date("2028-11-03")).is_some());
        assert!(national_holiday(date("2028-11-04")).is_none());
    }
}
