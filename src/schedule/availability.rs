//! Which slots are free: the clinic's calendar combined with the seats
//! already taken. Pure: occupancy and the current time are passed in.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use crate::schedule::{ClinicCalendar, ConsultationType};

/// Seats taken per slot start (UTC).
/// A free start offered instead of a full one.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SlotOffer {
    pub start: String,
    pub end: String,
}

pub type Occupancy = HashMap<NaiveDateTime, i64>;

/// One slot: free when `available` (not full, not too soon, not too far).
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct SlotAvailability {
    pub start: String,
    pub end: String,
    pub available: bool,
    pub remaining: u32,
    /// For a type with practitioners: the codes of those free then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub practitioners: Option<Vec<String>>,
}

/// A day: open with its slots, or closed with a reason
/// (`closed_weekday`, `closed_date`, `national_holiday`) and no slots.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct DayAvailability {
    pub date: String,
    pub open: bool,
    #[schema(value_type = Option<String>)]
    pub closed_reason: Option<&'static str>,
    pub slots: Vec<SlotAvailability>,
}

pub fn rfc3339(at: DateTime<Tz>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Seats still free for a consultation of `kind` at `start`: the fewest
/// free seats among the slots it covers.
pub fn remaining(
    calendar: &ClinicCalendar,
    kind: &ConsultationType,
    start: DateTime<Tz>,
    occupancy: &Occupancy,
) -> u32 {
    let capacity = i64::from(calendar.capacity_per_slot());
    calendar
        .covered_slots(start, kind)
        .iter()
        .map(|slot| (capacity - occupancy.get(slot).copied().unwrap_or(0)).max(0))
        .min()
        .unwrap_or(0) as u32
}

/// The UTC range of instants covering the clinic dates `from..=to`, for
/// loading occupancy.
pub fn utc_range(
    calendar: &ClinicCalendar,
    from: NaiveDate,
    to: NaiveDate,
) -> (NaiveDateTime, NaiveDateTime) {
    let start = calendar
        .at(from, chrono::NaiveTime::MIN)
        .map(|at| at.naive_utc())
        .unwrap_or_else(|| from.and_time(chrono::NaiveTime::MIN));
    let end = calendar
        .at(to + Duration::days(1), chrono::NaiveTime::MIN)
        .map(|at| at.naive_utc())
        .unwrap_or_else(|| (to + Duration::days(1)).and_time(chrono::NaiveTime::MIN));
    (start, end)
}

/// Every day from `from` to `to` inclusive, with every slot of the open ones.
pub fn days(
    calendar: &ClinicCalendar,
    kind: &ConsultationType,
    from: NaiveDate,
    to: NaiveDate,
    occupancy: &Occupancy,
    now: DateTime<Utc>,
) -> Vec<DayAvailability> {
    days_with(calendar, kind, from, to, occupancy, |start| {
        calendar.bookable_in_time(start, now)
    })
}

/// As `days`, as staff see them: a slot inside the minimum notice is free
/// too (staff fit patients in at short notice), one in the past is not.
pub fn days_for_staff(
    calendar: &ClinicCalendar,
    kind: &ConsultationType,
    from: NaiveDate,
    to: NaiveDate,
    occupancy: &Occupancy,
    now: DateTime<Utc>,
) -> Vec<DayAvailability> {
    days_with(calendar, kind, from, to, occupancy, |start| {
        calendar.bookable_by_staff_in_time(start, now)
    })
}

fn days_with(
    calendar: &ClinicCalendar,
    kind: &ConsultationType,
    from: NaiveDate,
    to: NaiveDate,
    occupancy: &Occupancy,
    in_time: impl Fn(DateTime<Tz>) -> bool,
) -> Vec<DayAvailability> {
    from.iter_days()
        .take_while(|date| *date <= to)
        .map(|date| match calendar.closed_reason(date) {
            Some(reason) => DayAvailability {
                date: date.to_string(),
                open: false,
                closed_reason: Some(reason.code()),
                slots: Vec::new(),
            },
            None => DayAvailability {
                date: date.to_string(),
                open: true,
                closed_reason: None,
                slots: calendar
                    .slot_starts(date, kind)
                    .into_iter()
                    .map(|start| {
                        let remaining = remaining(calendar, kind, start, occupancy);
                        SlotAvailability {
                            start: rfc3339(start),
                            end: rfc3339(calendar.end_of(start, kind)),
                            available: remaining > 0 && in_time(start),
                            remaining,
                            practitioners: None,
                        }
                    })
                    .collect(),
            },
        })
        .collect()
}

/// The clinic dates worth searching for alternatives to `around`.
pub fn search_window(
    calendar: &ClinicCalendar,
    around: DateTime<Tz>,
    now: DateTime<Utc>,
) -> (NaiveDate, NaiveDate) {
    let today = calendar.today(now);
    let last = today + Duration::days(calendar.booking_window_days());
    let from = (around.date_naive() - Duration::days(7)).max(today);
    let to = (around.date_naive() + Duration::days(7))
        .min(last)
        .max(from);
    (from, to)
}

/// Up to `count` free starts of `kind` nearest to `around`, in time order.
pub fn nearest_free(
    calendar: &ClinicCalendar,
    kind: &ConsultationType,
    around: DateTime<Tz>,
    occupancy: &Occupancy,
    now: DateTime<Utc>,
    count: usize,
) -> Vec<SlotOffer> {
    let (from, to) = search_window(calendar, around, now);
    let mut free: Vec<DateTime<Tz>> = from
        .iter_days()
        .take_while(|date| *date <= to)
        .filter(|date| calendar.closed_reason(*date).is_none())
        .flat_map(|date| calendar.slot_starts(date, kind))
        .filter(|start| *start != around)
        .filter(|start| calendar.bookable_in_time(*start, now))
        .filter(|start| remaining(calendar, kind, *start, occupancy) > 0)
        .collect();
    free.sort_by_key(|start| ((*start - around).num_seconds().abs(), *start));
    free.truncate(count);
    free.sort();
    free.into_iter()
        .map(|start| SlotOffer {
            start: rfc3339(start),
            end: rfc3339(calendar.end_of(start, kind)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;
    use chrono::TimeZone;

    fn calendar() -> ClinicCalendar {
        let settings = Settings::defaults().unwrap();
        ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_full_slot_is_unavailable_and_blocks_a_sixty_minute_treatment_before_it() {
        let cal = calendar();
        let stem_cell = cal.consultation_type("stem-cell").unwrap().clone();
        let taken = cal.parse_start("2026-12-01T11:00").unwrap().naive_utc();
        let occupancy: Occupancy = [(taken, 1)].into_iter().collect();
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let day = &days(&cal, &stem_cell, date, date, &occupancy, now())[0];
        let by_start = |s: &str| {
            day.slots
                .iter()
                .find(|slot| slot.start == s)
                .unwrap()
                .clone()
        };
        assert!(by_start("2026-12-01T10:00:00+09:00").available);
        assert!(!by_start("2026-12-01T10:30:00+09:00").available);
        assert!(!by_start("2026-12-01T11:00:00+09:00").available);
        assert!(by_start("2026-12-01T11:30:00+09:00").available);
    }

    #[test]
    fn sundays_are_listed_closed_without_slots() {
        let cal = calendar();
        let kind = cal.default_type().clone();
        let sunday = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let day = &days(&cal, &kind, sunday, sunday, &Occupancy::new(), now())[0];
        assert!(!day.open);
        assert_eq!(day.closed_reason, Some("closed_weekday"));
        assert!(day.slots.is_empty());
    }

    #[test]
    fn alternatives_are_the_nearest_free_starts() {
        let cal = calendar();
        let kind = cal.default_type().clone();
        let around = cal.parse_start("2026-12-01T12:00").unwrap();
        let occupancy: Occupancy = [(around.naive_utc(), 1)].into_iter().collect();
        let offers = nearest_free(&cal, &kind, around, &occupancy, now(), 3);
        let starts: Vec<&str> = offers.iter().map(|o| o.start.as_str()).collect();
        assert_eq!(
            starts,
            vec![
                "2026-12-01T11:00:00+09:00",
                "2026-12-01T11:30:00+09:00",
                "2026-12-01T12:30:00+09:00"
            ]
        );
    }
}
