//! Fresh mail handed to this instance's own worker in memory.
//!
//! A new booking's confirmation and the clinic's notice are due at once.
//! Going through the database alone, a delivery would read that something is
//! due, claim it (a write: on SQLite through the single writer that bookings
//! wait for), and read what it says, though the instance that stored it had
//! it all in hand. Instead such a message is stored already leased to this
//! instance's worker, and handed to it once its transaction is committed:
//! it costs no claim and no read.
//!
//! Nothing is lost on the way: the database holds the message, leased as if
//! claimed. If the process stops before delivering it, the lease runs out
//! and any instance claims it as usual. A message that waited here for a
//! quarter of its lease is given back to the database instead of being
//! delivered from here (`Handoff::take`), so that no claim can meet one
//! that is still being delivered.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use rand::Rng;

use crate::db::outbox::{OutboxContent, OutboxRow};

/// A message handed over: its row as stored (leased), what it says, and
/// when its lease began.
pub struct Handed {
    pub row: OutboxRow,
    pub content: OutboxContent,
    pub leased_at: Instant,
}

/// This instance's messages stored leased to its own worker, in the order
/// they were committed.
pub struct Handoff {
    owner: String,
    lease: Duration,
    queue: Mutex<VecDeque<Handed>>,
}

/// At most this many messages wait here; beyond it (a backlog) new ones are
/// stored unleased and claimed from the database as before.
const LIMIT: usize = 4096;

impl Handoff {
    /// A handoff for a worker whose leases last `lease`, under a name unique
    /// to this instance (it names the worker's leases in the database).
    pub fn new(lease: Duration) -> Handoff {
        Handoff {
            owner: format!("worker-{:016x}", rand::rng().random::<u64>()),
            lease,
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// The name this instance's worker leases messages under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Until when a message stored `now` is leased to hand it over; `None`
    /// when it should be stored unleased (a backlog is waiting here).
    pub fn lease_until(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        if self.queue().len() >= LIMIT {
            return None;
        }
        Some(now + chrono::Duration::from_std(self.lease).ok()?)
    }

    /// Hands over messages whose transaction is committed.
    pub fn give(&self, messages: Vec<Handed>) {
        self.queue().extend(messages);
    }

    /// Up to `max` messages to deliver now, oldest first, and the ids of
    /// those that waited a quarter of their lease or more: the caller gives
    /// these back to the database (`outbox::release`) for a claim.
    pub fn take(&self, max: usize) -> (Vec<Handed>, Vec<i64>) {
        let mut queue = self.queue();
        let mut fresh = Vec::with_capacity(max.min(queue.len()));
        let mut stale = Vec::new();
        while fresh.len() < max {
            let Some(message) = queue.pop_front() else {
                break;
            };
            if message.leased_at.elapsed() < self.lease / 4 {
                fresh.push(message);
            } else {
                stale.push(message.row.id);
            }
        }
        (fresh, stale)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Handed>> {
        // A panic while holding the lock left the queue intact.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handed(id: i64, leased_at: Instant) -> Handed {
        let now = chrono::Utc::now().naive_utc();
        Handed {
            row: OutboxRow {
                id,
                kind: "booking_confirmed".into(),
                audience: "patient".into(),
                reference: "N2-TEST".into(),
                recipient: "patient@example.jp".into(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                locked_until: Some(now),
                lease_owner: Some("worker".into()),
                last_error: None,
                created_at: now,
                updated_at: now,
                sent_at: None,
                failing_since: None,
            },
            content: OutboxContent {
                outbox_id: id,
                subject: "s".into(),
                body: "b".into(),
                ics: None,
            },
            leased_at,
        }
    }

    #[test]
    fn messages_come_out_oldest_first_in_batches() {
        let handoff = Handoff::new(Duration::from_secs(300));
        let now = Instant::now();
        handoff.give((1..=5).map(|id| handed(id, now)).collect());
        let (batch, stale) = handoff.take(3);
        let ids: Vec<i64> = batch.iter().map(|m| m.row.id).collect();
        assert_eq!((ids, stale), (vec![1, 2, 3], vec![]));
        let (batch, _) = handoff.take(3);
        assert_eq!(batch.iter().map(|m| m.row.id).collect::<Vec<_>>(), [4, 5]);
        assert!(handoff.take(3).0.is_empty());
    }

    #[test]
    fn a_message_that_waited_a_quarter_of_its_lease_goes_back_to_the_database() {
        let handoff = Handoff::new(Duration::from_secs(300));
        let long_ago = Instant::now() - Duration::from_secs(76);
        handoff.give(vec![handed(1, long_ago), handed(2, Instant::now())]);
        let (batch, stale) = handoff.take(32);
        assert_eq!(batch.iter().map(|m| m.row.id).collect::<Vec<_>>(), [2]);
        assert_eq!(stale, [1]);
    }

    #[test]
    fn a_full_queue_asks_for_unleased_messages() {
        let handoff = Handoff::new(Duration::from_secs(300));
        let now = chrono::Utc::now().naive_utc();
        assert_eq!(
            handoff.lease_until(now),
            Some(now + chrono::Duration::seconds(300))
        );
        handoff.give(
            (0..LIMIT as i64)
                .map(|id| handed(id, Instant::now()))
                .collect(),
        );
        assert_eq!(handoff.lease_until(now), None);
        handoff.take(1);
        assert!(handoff.lease_until(now).is_some());
    }
}
