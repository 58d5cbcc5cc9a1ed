//! Staff closures applied to the clinic's calendar. Pure: the closures are
//! passed in as data. A whole closed date becomes a closed day
//! (`closed_date`); a closed time range fills every slot it touches, so
//! availability, alternatives and capacity all see it the same way.

use chrono::{Duration, NaiveDate, NaiveDateTime};

use crate::schedule::availability::Occupancy;
use crate::schedule::ClinicCalendar;

/// A staff closure as the schedule reads it: a whole clinic date, or the
/// UTC range `start_at..end_at` (a date closure covers its day too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closure {
    pub closed_date: Option<NaiveDate>,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
}

/// The calendar with the whole-day closures closed, and `occupancy` (of the
/// dates `from..=to`) with every slot a partial closure overlaps made full.
pub fn apply(
    calendar: &ClinicCalendar,
    closures: &[Closure],
    from: NaiveDate,
    to: NaiveDate,
    occupancy: &mut Occupancy,
) -> ClinicCalendar {
    let closed = calendar.with_closed_dates(closures.iter().filter_map(|c| c.closed_date));
    let capacity = i64::from(calendar.capacity_per_slot());
    let step = Duration::minutes(calendar.slot_minutes().into());
    for closure in closures.iter().filter(|c| c.closed_date.is_none()) {
        let first = calendar.local(closure.start_at).date_naive().max(from);
        let last = calendar
            .local(closure.end_at - Duration::seconds(1))
            .date_naive()
            .min(to);
        for date in first.iter_days().take_while(|date| *date <= last) {
            for start in calendar.grid_starts(date) {
                let slot_start = start.naive_utc();
                if slot_start < closure.end_at && slot_start + step > closure.start_at {
                    let taken = occupancy.entry(slot_start).or_insert(0);
                    *taken = (*taken).max(capacity);
                }
            }
        }
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;
    use crate::schedule::availability::days;
    use chrono::{TimeZone, Utc};

    fn calendar() -> ClinicCalendar {
        let settings = Settings::defaults().unwrap();
        ClinicCalendar::from_settings(&settings.schedule, "Asia/Tokyo").unwrap()
    }

    fn closure(cal: &ClinicCalendar, date: Option<&str>, start: &str, end: &str) -> Closure {
        Closure {
            closed_date: date.map(|d| d.parse().unwrap()),
            start_at: cal.parse_start(start).unwrap().naive_utc(),
            end_at: cal.parse_start(end).unwrap().naive_utc(),
        }
    }

    #[test]
    fn a_closed_afternoon_fills_the_slots_it_touches_and_a_closed_date_closes_the_day() {
        let cal = calendar();
        let kind = cal.default_type().clone();
        let date = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let next = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let closures = vec![
            closure(&cal, None, "2026-12-01T14:00", "2026-12-01T16:00"),
            closure(
                &cal,
                Some("2026-12-02"),
                "2026-12-02T00:00",
                "2026-12-03T00:00",
            ),
        ];
        let mut occupancy = Occupancy::new();
        let closed = apply(&cal, &closures, date, next, &mut occupancy);
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        let listed = days(&closed, &kind, date, next, &occupancy, now);
        let free: Vec<bool> = listed[0]
            .slots
            .iter()
            .filter(|s| {
                s.start.as_str() >= "2026-12-01T13:30" && s.start.as_str() < "2026-12-01T16:30"
            })
            .map(|s| s.available)
            .collect();
        assert_eq!(free, vec![true, false, false, false, false, true]);
        assert!(!listed[1].open);
        assert_eq!(listed[1].closed_reason, Some("closed_date"));
    }
}
