//! The global hourly cap on outgoing mail (`mail.max_per_hour`): over every
//! recipient and every instance, at most that many messages are sent in
//! any hour. Over it, messages are not claimed: they wait in the outbox,
//! pending, and go as the hour's window frees up. Nothing is dropped.
//!
//! The count is the database's (messages with a `sent_at` in the last
//! hour), so instances sharing a PostgreSQL database share the cap. Within
//! one instance, messages in the hands of a delivery and not yet recorded
//! are reserved, so that its deliveries together do not overshoot.

use std::sync::Mutex;

use chrono::{Duration, NaiveDateTime};

use crate::db::{outbox, Db};
use crate::error::ApiError;

/// One instance's view of the cap, shared by its deliveries.
pub struct HourlyCap {
    /// Messages per hour; 0: no cap.
    max: u32,
    state: Mutex<CapState>,
}

#[derive(Default)]
struct CapState {
    /// Messages granted to deliveries and not yet recorded as sent.
    reserved: usize,
    /// The cap is reached until at least then: nothing sent within the
    /// hour leaves the window before it (the first message of the window
    /// is an hour old then), so no count is needed until then.
    held_until: Option<NaiveDateTime>,
    /// The cap was reached at the last count (for the log and metrics).
    reached: bool,
}

/// Messages a delivery may send now; what it keeps of them stays reserved
/// until the permit is dropped (after the outcomes are recorded).
pub struct Permit<'a> {
    cap: &'a HourlyCap,
    granted: usize,
}

impl Permit<'_> {
    pub fn granted(&self) -> usize {
        self.granted
    }

    /// Keeps `count` of the messages granted and gives the rest back.
    pub fn keep(&mut self, count: usize) {
        let count = count.min(self.granted);
        if self.cap.max > 0 {
            let mut state = self.cap.lock();
            state.reserved = state.reserved.saturating_sub(self.granted - count);
        }
        self.granted = count;
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.cap.max > 0 {
            let mut state = self.cap.lock();
            state.reserved = state.reserved.saturating_sub(self.granted);
        }
    }
}

impl Default for HourlyCap {
    /// No cap.
    fn default() -> HourlyCap {
        HourlyCap::new(0)
    }
}

impl HourlyCap {
    pub fn new(max_per_hour: u32) -> HourlyCap {
        HourlyCap {
            max: max_per_hour,
            state: Mutex::new(CapState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CapState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Up to `wanted` messages may go now; `None` while the cap holds mail
    /// back. Counts in the database only when the cap is on and not known
    /// to hold.
    pub async fn permit(
        &self,
        db: &Db,
        wanted: usize,
        now: NaiveDateTime,
    ) -> Result<Option<Permit<'_>>, ApiError> {
        if self.max == 0 {
            return Ok(Some(Permit {
                cap: self,
                granted: wanted,
            }));
        }
        if self.lock().held_until.is_some_and(|until| now < until) {
            return Ok(None);
        }
        let since = now - Duration::hours(1);
        let (sent, first) = db.read(move |conn| outbox::sent_since(conn, since)).await?;
        let sent = usize::try_from(sent.max(0)).unwrap_or(usize::MAX);
        let max = self.max as usize;
        let mut state = self.lock();
        if sent >= max {
            state.held_until = Some(first.map_or(now, |first| first + Duration::hours(1)));
            if !state.reached {
                state.reached = true;
                metrics::counter!("mail_hourly_cap_reached_total").increment(1);
                metrics::gauge!("mail_hourly_cap_holding").set(1.0);
                tracing::warn!(
                    max_per_hour = max,
                    sent_in_the_last_hour = sent,
                    "outgoing mail reached mail.max_per_hour: messages wait in the outbox until the hour's window frees up"
                );
            }
            return Ok(None);
        }
        state.held_until = None;
        if state.reached {
            state.reached = false;
            metrics::gauge!("mail_hourly_cap_holding").set(0.0);
            tracing::info!(
                max_per_hour = max,
                "outgoing mail goes out again under mail.max_per_hour"
            );
        }
        let granted = wanted.min((max - sent).saturating_sub(state.reserved));
        if granted == 0 {
            // Deliveries of this instance hold what is left of the hour.
            return Ok(None);
        }
        state.reserved += granted;
        Ok(Some(Permit { cap: self, granted }))
    }
}
