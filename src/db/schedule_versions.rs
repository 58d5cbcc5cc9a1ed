//! Which days' schedule has changed: every write of seats, practitioners'
//! and rooms' claims or closures names its instants (`changed`), and once
//! its transaction is committed they are counted in its `Db`'s `Versions`,
//! so an answer read from those days can tell it is stale (the
//! availability cache, `state::DayAnswers`).
//!
//! On PostgreSQL other instances write too. Each instance's listener
//! (`run_listener`, its own connection) names the days its instance
//! changed on the channel `CHANNEL` (a NOTIFY every ~`LISTEN_POLL` at most,
//! outside the writes' transactions) and counts the days the others name.
//!
//! Days are UTC dates (the database's instants); a reader asks for the
//! range of instants its answer was read from.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::sql_types::Text;
use diesel::{PgConnection, RunQueryDsl};

use super::{takes_commit_hooks, ConnectionOpener, DbConnection};

/// A change spanning more days than this counts as a change of every day.
const MOST_DAYS: i64 = 62;

/// The PostgreSQL channel on which instances name the days they changed.
pub const CHANNEL: &str = "schedule_changed";
/// The listener connection's `application_name`.
pub const APPLICATION_NAME: &str = "clinic-booking schedule listener";
/// What a notification says for "every day".
const EVERY_DAY: &str = "*";
/// How often the listener names its instance's changes and picks up the
/// notifications that have arrived. Each NOTIFY is a transaction of its
/// own, with a commit to flush, and wakes every listener into one more:
/// a cost per instance and second that grows with the instances, traded
/// against how soon another instance's kept answers show a change.
const LISTEN_POLL: std::time::Duration = std::time::Duration::from_millis(100);
/// How long the listener waits before connecting again.
const RECONNECT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Instants `from..=to` whose schedule a write changed.
pub type Change = (NaiveDateTime, NaiveDateTime);

thread_local! {
    /// The changes made by the write transaction running on this thread.
    static CHANGES: RefCell<Vec<Change>> = const { RefCell::new(Vec::new()) };
}

/// Notes that the write transaction running on this thread changes the
/// schedule at the instants `from..=to` (nothing when no write runs here: a
/// tool's own connection, which no answer is kept for).
pub fn changed(from: NaiveDateTime, to: NaiveDateTime) {
    if takes_commit_hooks() {
        CHANGES.with(|changes| changes.borrow_mut().push((from, to)));
    }
}

/// Notes a change at each of `slots` (their starts: seats or claims freed).
pub fn slots_changed(slots: &[NaiveDateTime]) {
    for slot in slots {
        changed(*slot, *slot);
    }
}

/// The changes noted on this thread since it was last asked (a write
/// transaction takes them as it begins, to forget a failed one's, and
/// once it has run).
pub(super) fn take() -> Vec<Change> {
    CHANGES.with(|changes| std::mem::take(&mut *changes.borrow_mut()))
}

/// The days of a change, or `None` when it spans too many to count one by
/// one (a long closure): then every day counts as changed.
fn days_of((from, to): Change) -> Option<impl Iterator<Item = NaiveDate>> {
    let (first, last) = (from.date(), to.date().max(from.date()));
    (last - first <= Duration::days(MOST_DAYS))
        .then(|| first.iter_days().take_while(move |day| *day <= last))
}

/// A notification's text: the UTC dates, space-separated, or `*` for
/// every day (also when they would not fit in one).
fn payload(dates: &Unannounced) -> String {
    match dates {
        Unannounced::Days(dates) if dates.len() <= MOST_NAMED => {
            let dates: Vec<String> = dates.iter().map(NaiveDate::to_string).collect();
            dates.join(" ")
        }
        _ => EVERY_DAY.to_string(),
    }
}

/// Dates named in one notification at most (PostgreSQL takes 8000 bytes).
const MOST_NAMED: usize = 500;

/// What this instance changed and has not yet named to the others.
#[derive(Debug, PartialEq)]
enum Unannounced {
    Days(BTreeSet<NaiveDate>),
    EveryDay,
}

impl Default for Unannounced {
    fn default() -> Self {
        Unannounced::Days(BTreeSet::new())
    }
}

/// The changes counted by one `Db`: its own committed writes and, on
/// PostgreSQL, the other instances' its listener heard of.
#[derive(Clone, Default)]
pub struct Versions(Arc<Counts>);

#[derive(Default)]
struct Counts {
    /// Changes counted per UTC date.
    days: Mutex<HashMap<NaiveDate, u64>>,
    /// Changes that made every answer stale.
    every_day: AtomicU64,
    /// This instance's changes for its listener to name, while it runs.
    unannounced: Mutex<Option<Unannounced>>,
}

impl Versions {
    /// A number that grows with every change counted at the instants
    /// `from..to`: equal numbers, no change between the two readings.
    pub fn version(&self, from: NaiveDateTime, to: NaiveDateTime) -> u64 {
        let every_day = self.0.every_day.load(Ordering::SeqCst);
        let days = self.days();
        let last = (to - Duration::microseconds(1)).date().max(from.date());
        from.date()
            .iter_days()
            .take_while(|day| *day <= last)
            .map(|day| days.get(&day).copied().unwrap_or(0))
            .fold(every_day, u64::wrapping_add)
    }

    /// Counts this instance's committed `changes` (and keeps them for its
    /// listener to name to the others, when it has one).
    pub(super) fn count(&self, changes: &[Change]) {
        let mut unannounced = self.unannounced();
        for change in changes {
            match days_of(*change) {
                Some(dates) => {
                    let mut days = self.days();
                    for day in dates {
                        *days.entry(day).or_insert(0) += 1;
                        if let Some(Unannounced::Days(named)) = unannounced.as_mut() {
                            named.insert(day);
                        }
                    }
                }
                None => {
                    self.count_every_day();
                    if let Some(named) = unannounced.as_mut() {
                        *named = Unannounced::EveryDay;
                    }
                }
            }
        }
    }

    /// Starts (or stops) keeping changes for a listener to name.
    fn keep_unannounced(&self, keep: bool) {
        *self.unannounced() = keep.then(Unannounced::default);
    }

    /// The changes kept since the last call.
    fn take_unannounced(&self) -> Unannounced {
        self.unannounced()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn unannounced(&self) -> std::sync::MutexGuard<'_, Option<Unannounced>> {
        self.0
            .unannounced
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count_every_day(&self) {
        self.0.every_day.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts the changes a notification names (every day when it cannot
    /// be read: an answer read again is better than a stale one).
    fn count_payload(&self, payload: &str) {
        let dates: Option<Vec<NaiveDate>> =
            payload.split(' ').map(|date| date.parse().ok()).collect();
        match dates {
            Some(dates) => {
                let mut days = self.days();
                for day in dates {
                    *days.entry(day).or_insert(0) += 1;
                }
            }
            None => self.count_every_day(),
        }
    }

    fn days(&self) -> std::sync::MutexGuard<'_, HashMap<NaiveDate, u64>> {
        self.0
            .days
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether this instance hears of other instances' changes (its listener is
/// connected): set by `run_listener`, read by the availability cache, which
/// without it keeps an answer from PostgreSQL for a second only.
#[derive(Clone, Default)]
pub struct Listening(Arc<AtomicBool>);

impl Listening {
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The listener's thread (PostgreSQL only), on its own connection: every
/// ~`LISTEN_POLL` it names the days its instance changed since the last
/// time (one NOTIFY on `CHANNEL`) and counts in `versions` the days the
/// other instances named (LISTEN). A booking's transaction thus sends
/// nothing more, and however many bookings an instance makes, it sends
/// at most one notification a poll.
///
/// While it is not connected, `listening` is off (answers are then kept for
/// a second only). What was said while it did not listen is unknown, so
/// every day counts as changed when it connects (after LISTEN: nothing
/// falls between the two) and when it loses the connection (`listening`
/// off first); what it had still to say, it says on connecting again as
/// "every day". It stops once every `Db` handle is gone.
pub(super) fn run_listener(
    opener: ConnectionOpener,
    alive: Weak<()>,
    versions: Versions,
    listening: Listening,
) {
    versions.keep_unannounced(true);
    let mut lost_before = false;
    while alive.upgrade().is_some() {
        let mut conn = match connect(&opener) {
            Ok(connected) => connected,
            Err(error) => {
                tracing::warn!(%error, "the schedule listener cannot connect");
                std::thread::sleep(RECONNECT_AFTER);
                continue;
            }
        };
        versions.count_every_day();
        listening.0.store(true, Ordering::SeqCst);
        let mut owed = if lost_before {
            Unannounced::EveryDay
        } else {
            Unannounced::default()
        };
        let lost = loop {
            if alive.upgrade().is_none() {
                break None;
            }
            if let Err(error) = listen_once(&mut conn, &versions, &mut owed) {
                break Some(error);
            }
            std::thread::sleep(LISTEN_POLL);
        };
        listening.0.store(false, Ordering::SeqCst);
        versions.count_every_day();
        lost_before = true;
        if let Some(error) = lost {
            tracing::warn!(%error, "the schedule listener lost its connection");
            std::thread::sleep(RECONNECT_AFTER);
        }
    }
    versions.keep_unannounced(false);
}

/// The listener's connection, listening, and its server process's id (so
/// that its own notifications are not counted again).
fn connect(opener: &ConnectionOpener) -> anyhow::Result<(PgConnection, i32)> {
    let DbConnection::Postgresql(mut conn) = opener.open()? else {
        anyhow::bail!("the schedule listener is for PostgreSQL");
    };
    // Named, so that an operator can tell it among the connections.
    diesel::sql_query(format!("SET application_name = '{APPLICATION_NAME}'")).execute(&mut conn)?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    let pid = diesel::select(pg_backend_pid()).get_result(&mut conn)?;
    Ok((conn, pid))
}

diesel::define_sql_function! {
    fn pg_backend_pid() -> diesel::sql_types::Integer;
}

/// One poll: names what this instance changed (with `owed`, what it could
/// not say before), then counts what the others named.
fn listen_once(
    (conn, own_pid): &mut (PgConnection, i32),
    versions: &Versions,
    owed: &mut Unannounced,
) -> diesel::QueryResult<()> {
    let mut changed = versions.take_unannounced();
    match (&mut changed, std::mem::take(owed)) {
        (_, Unannounced::EveryDay) | (Unannounced::EveryDay, _) => changed = Unannounced::EveryDay,
        (Unannounced::Days(days), Unannounced::Days(more)) => days.extend(more),
    }
    if changed != Unannounced::default() {
        let sent = diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(payload(&changed))
            .execute(conn);
        if let Err(error) = sent {
            *owed = changed;
            return Err(error);
        }
    }
    for notification in conn.notifications_iter() {
        let notification = notification?;
        if notification.process_id != *own_pid {
            versions.count_payload(&notification.payload);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn a_change_moves_the_version_of_its_days_only() {
        let versions = Versions::default();
        let (day_from, day_to) = (at("2031-03-04 15:00"), at("2031-03-05 15:00"));
        let (other_from, other_to) = (at("2031-03-09 15:00"), at("2031-03-10 15:00"));
        let (day, other) = (
            versions.version(day_from, day_to),
            versions.version(other_from, other_to),
        );
        let change = at("2031-03-05 01:00");
        versions.count(&[(change, change)]);
        assert_ne!(versions.version(day_from, day_to), day);
        assert_eq!(versions.version(other_from, other_to), other);
    }

    #[test]
    fn a_long_closure_moves_every_version() {
        let versions = Versions::default();
        let (from, to) = (at("2040-01-01 00:00"), at("2040-01-02 00:00"));
        let before = versions.version(from, to);
        versions.count(&[(at("2030-01-01 00:00"), at("2030-12-31 00:00"))]);
        assert_ne!(versions.version(from, to), before);
    }

    #[test]
    fn a_notification_names_the_days_changed_or_every_day() {
        let one = (at("2031-05-01 01:00"), at("2031-05-01 01:30"));
        let two = (at("2031-05-02 23:00"), at("2031-05-03 00:30"));
        let year = (at("2032-01-01 00:00"), at("2032-12-31 00:00"));
        let said = |changes: &[Change]| {
            let versions = Versions::default();
            versions.keep_unannounced(true);
            versions.count(changes);
            payload(&versions.take_unannounced())
        };
        assert_eq!(said(&[one, two]), "2031-05-01 2031-05-02 2031-05-03");
        assert_eq!(said(&[one, one]), "2031-05-01");
        assert_eq!(said(&[one, year]), "*");
        assert_eq!(said(&[]), "");

        let versions = Versions::default();
        let (day_from, day_to) = (at("2031-05-02 00:00"), at("2031-05-03 00:00"));
        let (other_from, other_to) = (at("2031-05-09 00:00"), at("2031-05-10 00:00"));
        let (day, other) = (
            versions.version(day_from, day_to),
            versions.version(other_from, other_to),
        );
        versions.count_payload(&said(&[two]));
        assert_ne!(versions.version(day_from, day_to), day, "a day heard of");
        assert_eq!(versions.version(other_from, other_to), other);
        for unreadable in ["*", "not a date"] {
            let before = versions.version(other_from, other_to);
            versions.count_payload(unreadable);
            assert_ne!(versions.version(other_from, other_to), before);
        }
    }
}
