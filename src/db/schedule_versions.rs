//! Which days' schedule this process has changed: every write of seats,
//! practitioners' and rooms' claims or closures counts its days here once
//! it is committed, so an answer read from those days can tell it is stale
//! (the availability cache, `state::DayAnswers`).
//!
//! Days are UTC dates (the database's instants); a reader asks for the
//! range of instants its answer was read from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::on_commit;

/// Changes counted per UTC date.
static DAYS: Mutex<Option<HashMap<NaiveDate, u64>>> = Mutex::new(None);
/// Changes that touched more days than are worth counting one by one: they
/// make every answer stale.
static EVERY_DAY: AtomicU64 = AtomicU64::new(0);
/// A change spanning more days than this counts as `EVERY_DAY`.
const MOST_DAYS: i64 = 62;

/// Counts, once the write running on this thread is committed, a change of
/// the schedule at the instants `from..=to` (at once when no write runs
/// here: a tool's own connection).
pub fn changed(from: NaiveDateTime, to: NaiveDateTime) {
    if let Err(hook) = on_commit(Box::new(move || count(from, to))) {
        hook();
    }
}

fn count(from: NaiveDateTime, to: NaiveDateTime) {
    let (first, last) = (from.date(), to.date().max(from.date()));
    if last - first > Duration::days(MOST_DAYS) {
        EVERY_DAY.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let mut days = DAYS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let days = days.get_or_insert_with(HashMap::new);
    for day in first.iter_days().take_while(|day| *day <= last) {
        *days.entry(day).or_insert(0) += 1;
    }
}

/// A number that grows with every change counted at the instants
/// `from..to`: equal numbers, no change between the two readings.
pub fn version(from: NaiveDateTime, to: NaiveDateTime) -> u64 {
    let every_day = EVERY_DAY.load(Ordering::SeqCst);
    let days = DAYS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(days) = days.as_ref() else {
        return every_day;
    };
    let last = (to - Duration::microseconds(1)).date().max(from.date());
    from.date()
        .iter_days()
        .take_while(|day| *day <= last)
        .map(|day| days.get(&day).copied().unwrap_or(0))
        .fold(every_day, u64::wrapping_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn a_change_moves_the_version_of_its_days_only() {
        let (day_from, day_to) = (at("2031-03-04 15:00"), at("2031-03-05 15:00"));
        let (other_from, other_to) = (at("2031-03-09 15:00"), at("2031-03-10 15:00"));
        let (day, other) = (version(day_from, day_to), version(other_from, other_to));
        changed(at("2031-03-05 01:00"), at("2031-03-05 01:00"));
        assert_ne!(version(day_from, day_to), day);
        // Another test may count a change of every day meanwhile; none of
        // them counts these dates one by one.
        let moved_by_all = EVERY_DAY.load(Ordering::SeqCst);
        assert!(version(other_from, other_to) == other || moved_by_all > 0);
    }

    #[test]
    fn a_long_closure_moves_every_version() {
        let (from, to) = (at("2040-01-01 00:00"), at("2040-01-02 00:00"));
        let before = version(from, to);
        changed(at("2030-01-01 00:00"), at("2030-12-31 00:00"));
        assert_ne!(version(from, to), before);
    }
}
