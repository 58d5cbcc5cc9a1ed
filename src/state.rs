//! What the handlers, the workers and the CLI share: settings, the clinic's
//! calendar, the database, and the instance's in-memory caches. Nothing here
//! knows HTTP, so a workflow runs the same from a handler, a worker or the CLI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use chrono::NaiveDate;

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
    pub availability_cache: AnswerCache,
    /// Fresh mail this instance stored for its own mail worker.
    pub mail_handoff: Arc<Handoff>,
    /// The webhook receivers, and what wakes the webhook worker.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Seals what the database keeps of manage links and pending mail, and
    /// the manage pages' cookies.
    pub server_key: Arc<ServerKey>,
}

impl AppState {
    /// The patient's link to see, cancel or move a booking.
    pub fn manage_url(&self, reference: &str, token: &str) -> String {
        format!(
            "{}/manage/{reference}?token={token}",
            self.settings.server.public_url.trim_end_matches('/')
        )
    }
}

/// Recent answers, serialised, by (from, to, type). One is served again only
/// while this process has written nothing since and for at most a second
/// (slots pass their notice time; another instance may have booked), so a
/// rush on the calendar costs one database read a second instead of one per
/// request.
#[derive(Default)]
pub struct AnswerCache {
    answers: Mutex<HashMap<(NaiveDate, NaiveDate, String), CachedAnswer>>,
}

struct CachedAnswer {
    generation: u64,
    at: Instant,
    body: Bytes,
}

const CACHE_SECONDS: f64 = 1.0;
/// Distinct ranges kept at most (a crawler cannot grow the cache).
const CACHE_ENTRIES: usize = 256;

impl AnswerCache {
    pub fn get(&self, key: &(NaiveDate, NaiveDate, String), generation: u64) -> Option<Bytes> {
        let answers = self.answers.lock().ok()?;
        let cached = answers.get(key)?;
        (cached.generation == generation && cached.at.elapsed().as_secs_f64() < CACHE_SECONDS)
            .then(|| cached.body.clone())
    }

    pub fn put(&self, key: (NaiveDate, NaiveDate, String), generation: u64, body: Bytes) {
        if let Ok(mut answers) = self.answers.lock() {
            if answers.len() >= CACHE_ENTRIES {
                answers.clear();
            }
            answers.insert(
                key,
                CachedAnswer {
                    generation,
                    at: Instant::now(),
                    body,
                },
            );
        }
    }
}
