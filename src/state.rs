//! What the handlers, the workers and the CLI share: settings, the clinic's
//! calendar, the database, and the instance's in-memory caches. Nothing here
//! knows HTTP, so a workflow runs the same from a handler, a worker or the CLI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};

use crate::configuration::Settings;
use crate::db::Db;
use crate::mail::handoff::Handoff;
use crate::schedule::resources::Resources;
use crate::schedule::ClinicCalendar;
use crate::server_key::ServerKey;

pub struct AppState {
    pub settings: Settings,
    pub calendar: ClinicCalendar,
    /// Practitioners and rooms, and what each type needs of them.
    pub resources: Resources,
    pub db: Db,
    pub availability_cache: DayAnswers,
    /// Fresh mail this instance stored for its own mail worker.
    pub mail_handoff: Arc<Handoff>,
    /// The webhook receivers, and what wakes the webhook worker.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Seals what the database keeps of manage links and pending mail, and
    /// the manage pages' cookies.
    pub server_key: Arc<ServerKey>,
    /// What time it is for the rules that wait (the waiting list's holds).
    pub clock: Clock,
}

/// The current time, which a test may move forward instead of sleeping.
/// In service it is the system clock; `advance` adds to every later `now`.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl Clock {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let offset = self.offset_ms.load(std::sync::atomic::Ordering::Relaxed);
        chrono::Utc::now() + chrono::Duration::milliseconds(offset)
    }

    /// Moves this instance's time forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::Relaxed);
    }
}

impl AppState {
    /// The patient's link to see, cancel or move a booking.
    pub fn manage_url(&self, reference: &str, token: &str) -> String {
        format!(
            "{}/manage/{reference}?token={token}",
            self.settings.server.public_url.trim_end_matches('/')
        )
    }

    /// The patient's page of a waiting-list entry (`token`: the entry's
    /// manage token or an offer's).
    pub fn waitlist_url(&self, reference: &str, token: &str) -> String {
        format!(
            "{}/waitlist/{reference}?token={token}",
            self.settings.server.public_url.trim_end_matches('/')
        )
    }
}

/// Each day's availability answer, serialised, by (date, type and
/// practitioner). An answer stays until a write changes that day's
/// schedule (`db::schedule_versions`: this instance's writes, and on
/// PostgreSQL the other instances' as its listener hears of them), until
/// the timing rules read the day otherwise
/// (`ClinicCalendar::timing_holds_until`), and on PostgreSQL for at most
/// `Db::keep_schedule_answers_for`. However many requests miss the same
/// day at once, one computes it and the others wait for its answer.
#[derive(Default)]
pub struct DayAnswers {
    days: Mutex<HashMap<DayKey, Arc<DayAnswer>>>,
}

/// (clinic date, "type|practitioner").
pub type DayKey = (NaiveDate, String);

/// One day's answer, for one version of its schedule.
pub struct DayAnswer {
    version: u64,
    answer: tokio::sync::OnceCell<Computed>,
}

/// A day's serialised answer and until when it holds.
#[derive(Clone)]
pub struct Computed {
    pub body: Bytes,
    pub holds_until: DateTime<Utc>,
}

/// Day answers kept at most (a crawler cannot grow the cache): ten years
/// of one type's days, twice over.
const MOST_DAYS: usize = 8192;

impl DayAnswer {
    /// The answer, computed by `compute` unless another request has
    /// computed it or is computing it (then this waits for that one).
    pub async fn get_or_compute<F, Fut, E>(&self, compute: F) -> Result<Computed, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Computed, E>>,
    {
        self.answer.get_or_try_init(compute).await.cloned()
    }
}

impl DayAnswers {
    /// The entry of `key` for the schedule `version` read now: the one
    /// kept when it is of that version and still holds at `now`, else a
    /// new one (to be computed once).
    pub fn entry(&self, key: DayKey, version: u64, now: DateTime<Utc>) -> Arc<DayAnswer> {
        let mut days = self
            .days
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kept) = days.get(&key) {
            let holds = kept
                .answer
                .get()
                .is_none_or(|computed| now < computed.holds_until);
            if kept.version == version && holds {
                return kept.clone();
            }
        }
        if days.len() >= MOST_DAYS {
            days.clear();
        }
        let fresh = Arc::new(DayAnswer {
            version,
            answer: tokio::sync::OnceCell::new(),
        });
        days.insert(key, fresh.clone());
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key() -> DayKey {
        (
            NaiveDate::from_ymd_opt(2031, 3, 4).unwrap(),
            "consultation|".into(),
        )
    }

    fn computed(holds_until: DateTime<Utc>) -> Computed {
        Computed {
            body: Bytes::from_static(b"{}"),
            holds_until,
        }
    }

    #[tokio::test]
    async fn many_misses_of_one_day_compute_it_once() {
        let answers = Arc::new(DayAnswers::default());
        let computations = Arc::new(AtomicUsize::new(0));
        let now = Utc::now();
        let waiting: Vec<_> = (0..32)
            .map(|_| {
                let (answers, computations) = (answers.clone(), computations.clone());
                tokio::spawn(async move {
                    let entry = answers.entry(key(), 7, now);
                    entry
                        .get_or_compute(|| async {
                            computations.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            Ok::<_, ()>(computed(now + chrono::Duration::hours(1)))
                        })
                        .await
                })
            })
            .collect();
        for one in waiting {
            assert!(one.await.unwrap().is_ok());
        }
        assert_eq!(computations.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_is_kept_for_its_version_until_it_stops_holding() {
        let answers = DayAnswers::default();
        let now = Utc::now();
        let until = now + chrono::Duration::minutes(5);
        let first = answers.entry(key(), 1, now);
        first
            .get_or_compute(|| async { Ok::<_, ()>(computed(until)) })
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&first, &answers.entry(key(), 1, now)));
        // Another version of the day's schedule, or a later time.
        assert!(!Arc::ptr_eq(&first, &answers.entry(key(), 2, now)));
        let again = answers.entry(key(), 2, now);
        again
            .get_or_compute(|| async { Ok::<_, ()>(computed(until)) })
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&again, &answers.entry(key(), 2, until)));
    }
}
