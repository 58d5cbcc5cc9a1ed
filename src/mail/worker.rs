//! The mail worker: background tasks of every instance that deliver
//! messages, record the outcome and retry with exponential backoff. They
//! take the fresh mail this instance's own writes handed them in memory
//! (`handoff`), and claim due outbox messages (retries, reminders, anything
//! given back or left by an instance that stopped).
//! `mail.concurrent_deliveries` tasks work side by side (a claim is a
//! conditional update, so two never take the same message), and an idle
//! task wakes at the next write of its instance or poll.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::hourly_cap::HourlyCap;
use super::transport::{build_message, SendError, Transport};
use crate::configuration::{MailSettings, Settings};
use crate::db::bookings;
use crate::db::outbox::{self, OutboxContent, OutboxRow, Outcome};
use crate::db::Db;
use crate::domain::BookingStatus;
use crate::error::ApiError;
use crate::mail::handoff::Handoff;
use crate::mail::messages;
use crate::schedule::ClinicCalendar;

/// What the worker needs of its instance: the database, the fresh mail its
/// instance's writes hand over in memory, the key to open what the outbox
/// keeps sealed, and the settings and calendar (mail settings, and what
/// reminders are written from when they are due:
/// `outbox::written_when_due`).
pub struct Mailroom {
    pub db: Db,
    pub handoff: Arc<Handoff>,
    pub server_key: Arc<crate::server_key::ServerKey>,
    pub settings: Settings,
    pub calendar: ClinicCalendar,
}

impl Mailroom {
    fn mail(&self) -> &MailSettings {
        &self.settings.mail
    }
}

/// A running worker; `stop` lets it finish the messages in hand.
pub struct MailWorker {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    state: Arc<Mailroom>,
}

impl MailWorker {
    pub fn start(mailroom: Mailroom, transport: Transport) -> MailWorker {
        let state = Arc::new(mailroom);
        let (stop, stopped) = watch::channel(false);
        // Names this worker's leases, also those of the messages handed to
        // it in memory; unique enough across instances.
        let owner = state.handoff.owner().to_string();
        let deliveries = state.mail().concurrent_deliveries.max(1);
        tracing::info!(transport = transport.describe(), %owner, deliveries, "mail worker started");
        let transport = Arc::new(transport);
        let gate = Arc::new(ClaimGate {
            cap: HourlyCap::new(state.mail().max_per_hour),
            ..ClaimGate::default()
        });
        let tasks = (0..deliveries)
            .map(|_| {
                tokio::spawn(run(
                    state.clone(),
                    transport.clone(),
                    gate.clone(),
                    owner.clone(),
                    stopped.clone(),
                ))
            })
            .collect();
        MailWorker { stop, tasks, state }
    }

    /// Asks the worker to stop and waits until it has: a message being sent
    /// is finished and recorded first. Messages handed over and not yet
    /// tried are given back to the database, free for the next claim (by a
    /// restart or another instance) instead of waiting out their lease.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "mail worker ended abnormally");
            }
        }
        let handoff = &self.state.handoff;
        let (handed, stale) = handoff.take(usize::MAX);
        let mut ids: Vec<i64> = handed.iter().map(|message| message.row.id).collect();
        ids.extend(stale);
        if ids.is_empty() {
            return;
        }
        let count = ids.len();
        match give_back(&self.state, ids, handoff.owner()).await {
            Ok(_) => tracing::info!(
                count,
                "mail worker stopped: undelivered messages given back"
            ),
            Err(error) => {
                tracing::error!(%error, count, "mail worker stopped: messages stay leased until their lease ends")
            }
        }
    }
}

/// How long a claim waits after one that found less than a full batch, for
/// more messages to come due. Under a steady stream of bookings it sets
/// what an instance's mail costs the database: a write recording a batch's
/// outcomes every `GATHER`, and now and then a look for due mail; on
/// PostgreSQL that adds up over the instances sharing it.
const GATHER: Duration = Duration::from_millis(40);

/// Shared by an instance's deliveries. After a claim that took less than a
/// full batch, the deliveries start their next claims one at a time,
/// `GATHER` apart, so that under a steady stream of bookings each claim
/// takes the messages of many bookings instead of one booking's two: far
/// fewer claims, which are writes (on SQLite, through the single writer
/// that bookings wait for). While claims take full batches (a backlog) none
/// waits, and they run side by side; a message waits at most about
/// `GATHER` longer.
#[derive(Default)]
struct ClaimGate {
    gathering: tokio::sync::Mutex<()>,
    /// The last claim took a full batch.
    last_full: AtomicBool,
    /// Turns taken, to look in the database first now and then.
    turns: AtomicU64,
    /// `mail.max_per_hour`, shared by the deliveries.
    cap: HourlyCap,
}

impl ClaimGate {
    /// Waits for this delivery's turn to claim; true when it should look
    /// in the database before taking what was handed over (every fourth
    /// turn, so that retries and other due mail are not left waiting
    /// behind a long rush of fresh messages).
    async fn turn(&self) -> bool {
        let _gathering = self.gathering.lock().await;
        if !self.last_full.load(Ordering::Acquire) {
            tokio::time::sleep(GATHER).await;
        }
        self.turns.fetch_add(1, Ordering::Relaxed) % 4 == 3
    }

    /// Notes how many messages a claim took; true when it was a full batch.
    fn took(&self, count: usize) -> bool {
        let full = count == BATCH;
        self.last_full.store(full, Ordering::Release);
        full
    }
}

async fn run(
    state: Arc<Mailroom>,
    transport: Arc<Transport>,
    gate: Arc<ClaimGate>,
    owner: String,
    mut stopped: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(state.mail().poll_interval_ms.max(10));
    loop {
        if *stopped.borrow() {
            break;
        }
        let idle = match deliver_next(&state, &transport, &gate, &owner).await {
            Ok(delivered) => !delivered,
            Err(error) => {
                tracing::error!(%error, "mail worker: database error");
                true
            }
        };
        if idle {
            tokio::select! {
                changed = stopped.changed() => if changed.is_err() || *stopped.borrow() { break },
                _ = tokio::time::sleep(poll) => {}
                _ = state.db.next_write() => {}
            }
        }
    }
    tracing::info!(%owner, "mail worker stopped");
}

/// Rule: the n-th retry waits `retry_initial_seconds * 2^(n-1)`, at most
/// `retry_max_seconds`.
pub fn backoff(settings: &MailSettings, attempts_made: i32) -> Duration {
    let exponent = attempts_made.saturating_sub(1).clamp(0, 30);
    let seconds = settings.retry_initial_seconds.max(0.0) * 2f64.powi(exponent);
    Duration::from_secs_f64(seconds.min(settings.retry_max_seconds.max(0.0)))
}

/// What to record after a failed attempt: retry later, or give up.
///
/// Rule: a temporary failure (server down, 4xx) is retried until
/// `mail.retry_for_hours` have passed since the message's failures began
/// (`failing_since`, or now for a first failure), the last try at the end
/// of that window; a permanent rejection (5xx) gives up after
/// `mail.max_attempts_permanent` attempts.
pub fn after_failure(
    settings: &MailSettings,
    attempts_before: i32,
    failing_since: Option<NaiveDateTime>,
    error: SendError,
    now: NaiveDateTime,
) -> Outcome {
    let attempts_made = attempts_before + 1;
    let since = failing_since.unwrap_or(now);
    let window = chrono::Duration::from_std(Duration::from_secs_f64(
        settings.retry_for_hours.max(0.0) * 3600.0,
    ))
    .unwrap_or_else(|_| chrono::Duration::hours(72));
    let deadline = since + window;
    let gives_up = if error.permanent {
        attempts_made >= settings.max_attempts_permanent.max(1)
    } else {
        now >= deadline
    };
    if gives_up {
        return Outcome::Failed {
            error: error.detail,
        };
    }
    let delay = chrono::Duration::from_std(backoff(settings, attempts_made))
        .unwrap_or_else(|_| chrono::Duration::seconds(600));
    Outcome::Retry {
        at: (now + delay).min(deadline.max(now)),
        error: error.detail,
        failing_since: since,
    }
}

/// What a due reminder comes to, from its booking as it now stands.
enum DueReminder {
    Written(OutboxContent),
    /// The booking is not confirmed any more, or has started.
    NoLongerApplies,
    /// The template failed: no later attempt will do better.
    Unwritable(String),
}

/// Writes the reminder `row` from its booking as it now stands.
async fn due_reminder(state: &Mailroom, row: &OutboxRow) -> Result<DueReminder, ApiError> {
    let reference = row.reference.clone();
    let booking = state
        .db
        .read(move |conn| bookings::find(conn, &reference))
        .await?;
    let now = Utc::now().naive_utc();
    let Some(booking) = booking
        .filter(|booking| booking.status() == BookingStatus::Confirmed && booking.start_at > now)
    else {
        return Ok(DueReminder::NoLongerApplies);
    };
    Ok(
        match messages::booking_reminder(&state.settings, &state.calendar, &booking) {
            Ok(written) => DueReminder::Written(OutboxContent {
                outbox_id: row.id,
                subject: written.subject,
                body: written.body,
                ics: None,
            }),
            Err(error) => DueReminder::Unwritable(error.to_string()),
        },
    )
}

/// Messages one task claims at a time.
const BATCH: usize = 32;

/// Takes a batch of messages, those handed over in memory (`handoff`) or
/// else due ones claimed from the database, delivers them one after the
/// other and records the outcomes together; `false` when none was due.
async fn deliver_next(
    state: &Mailroom,
    transport: &Transport,
    gate: &ClaimGate,
    owner: &str,
) -> Result<bool, ApiError> {
    let database_first = gate.turn().await;
    if database_first && claim_and_deliver(state, transport, gate, owner).await? {
        return Ok(true);
    }
    if deliver_handed(state, transport, gate, owner).await? {
        return Ok(true);
    }
    if database_first {
        Ok(false)
    } else {
        claim_and_deliver(state, transport, gate, owner).await
    }
}

/// Delivers a batch of the messages handed over in memory; `false` when
/// none was waiting. Those that waited too long go back to the database.
async fn deliver_handed(
    state: &Mailroom,
    transport: &Transport,
    gate: &ClaimGate,
    owner: &str,
) -> Result<bool, ApiError> {
    let (mut handed, stale) = state.handoff.take(BATCH);
    if !stale.is_empty() {
        give_back(state, stale, owner).await?;
    }
    if handed.is_empty() {
        return Ok(false);
    }
    // Over the hourly cap, what may not go now waits in the database.
    let now = Utc::now().naive_utc();
    let permit = gate.cap.permit(&state.db, handed.len(), now).await?;
    let allowed = permit.as_ref().map_or(0, |permit| permit.granted());
    if allowed < handed.len() {
        let held = handed.split_off(allowed);
        give_back(state, held.iter().map(|m| m.row.id).collect(), owner).await?;
    }
    let Some(oldest) = handed.first() else {
        return Ok(false);
    };
    let leased_at = oldest.leased_at;
    // As after a claim: a full batch wakes the next delivery.
    if gate.took(handed.len()) {
        state.db.pass_on_write();
    }
    let (rows, contents) = handed
        .into_iter()
        .map(|message| (message.row, (message.content.outbox_id, message.content)))
        .unzip();
    deliver_batch(state, transport, owner, rows, contents, leased_at).await?;
    Ok(true)
}

/// Gives messages `owner` holds and did not try back to the database,
/// untouched, free for the next claim.
async fn give_back(state: &Mailroom, ids: Vec<i64>, owner: &str) -> Result<usize, ApiError> {
    let owner = owner.to_string();
    state
        .db
        .write_unannounced(move |conn| outbox::release(conn, &ids, &owner))
        .await
}

/// Claims a batch of due messages from the database and delivers it;
/// `false` when none was due.
async fn claim_and_deliver(
    state: &Mailroom,
    transport: &Transport,
    gate: &ClaimGate,
    owner: &str,
) -> Result<bool, ApiError> {
    let settings = state.mail();
    let claimed_at = std::time::Instant::now();
    let now = Utc::now().naive_utc();
    let lease_until = now + chrono::Duration::seconds(settings.lease_seconds.max(1) as i64);
    if !state
        .db
        .read(move |conn| outbox::has_due(conn, now))
        .await?
    {
        gate.took(0);
        return Ok(false);
    }
    // Over the hourly cap, due mail stays in the database.
    let Some(mut permit) = gate.cap.permit(&state.db, BATCH, now).await? else {
        gate.took(0);
        return Ok(false);
    };
    let limit = permit.granted();
    let claimer = owner.to_string();
    let claimed = state
        .db
        .write_unannounced(move |conn| outbox::claim_due(conn, &claimer, now, lease_until, limit))
        .await?;
    permit.keep(claimed.len());
    let full = gate.took(claimed.len());
    if claimed.is_empty() {
        return Ok(false);
    }
    // A write that queues mail wakes one idle delivery. One that claimed a
    // full batch wakes the next, as more may be due: deliveries join in
    // while there is a backlog and stay idle when there is none. (A partial
    // batch took everything due and free; at a paced 200 bookings a second
    // waking the next anyway cost two empty reads and claims per booking.)
    if full {
        state.db.pass_on_write();
    }
    // What the messages say is read apart from the claim, so that the
    // claim (a write) stays small.
    let ids: Vec<i64> = claimed.iter().map(|row| row.id).collect();
    let wanted = ids.clone();
    let contents: HashMap<i64, OutboxContent> = match state
        .db
        .read(move |conn| outbox::contents(conn, &wanted))
        .await
    {
        Ok(contents) => contents
            .into_iter()
            .map(|content| (content.outbox_id, content))
            .collect(),
        Err(error) => {
            give_back(state, ids, owner).await?;
            return Err(error);
        }
    };
    deliver_batch(state, transport, owner, claimed, contents, claimed_at).await?;
    Ok(true)
}

/// Delivers messages `owner` holds, one after the other, and records the
/// outcomes together. The batch stops early at a temporary failure (the
/// server is likely down for the rest too) or once a quarter of the lease
/// since `leased_at` is used (so a slow server cannot make it outlive the
/// lease), and what was not tried is given back untouched.
async fn deliver_batch(
    state: &Mailroom,
    transport: &Transport,
    owner: &str,
    claimed: Vec<OutboxRow>,
    mut contents: HashMap<i64, OutboxContent>,
    leased_at: std::time::Instant,
) -> Result<(), ApiError> {
    let settings = state.mail();
    let mut outcomes = Vec::with_capacity(claimed.len());
    let mut untried = Vec::new();
    let mut rows = claimed.into_iter();
    let budget = Duration::from_secs(settings.lease_seconds.max(1)) / 4;
    while leased_at.elapsed() < budget {
        let Some(row) = rows.next() else { break };
        let content = contents.remove(&row.id);
        let Some(outcome) = attempt(state, transport, &row, content.as_ref()).await else {
            untried.push(row.id);
            break;
        };
        log_outcome(&row, &outcome);
        let stop = matches!(outcome, Outcome::Retry { .. });
        outcomes.push((row, outcome));
        if stop {
            break;
        }
    }
    untried.extend(rows.map(|row| row.id));
    let recorder = owner.to_string();
    let lost = state
        .db
        .write_unannounced(move |conn| {
            let now = Utc::now().naive_utc();
            let sent: Vec<i64> = outcomes
                .iter()
                .filter(|(_, outcome)| matches!(outcome, Outcome::Sent))
                .map(|(row, _)| row.id)
                .collect();
            let recorded = outbox::record_sent(conn, &sent, &recorder, now)?;
            let mut lost = Vec::new();
            for (row, outcome) in &outcomes {
                let kept = match outcome {
                    Outcome::Sent => recorded.contains(&row.id),
                    _ => outbox::record_attempt(conn, row.id, &recorder, outcome, now)?,
                };
                if !kept {
                    lost.push((row.reference.clone(), row.id));
                }
            }
            outbox::release(conn, &untried, &recorder)?;
            Ok(lost)
        })
        .await?;
    for (reference, id) in lost {
        tracing::warn!(%reference, outbox_id = id, "mail lease lost before recording");
    }
    Ok(())
}

/// Delivers one claimed message; `None` when it cannot be decided now (the
/// database did not answer whether a reminder still applies).
async fn attempt(
    state: &Mailroom,
    transport: &Transport,
    row: &OutboxRow,
    content: Option<&OutboxContent>,
) -> Option<Outcome> {
    let settings = state.mail();
    let written = if outbox::written_when_due(&row.kind) {
        match due_reminder(state, row).await {
            Ok(DueReminder::Written(content)) => Ok(content),
            Ok(DueReminder::Unwritable(error)) => Err(error),
            Ok(DueReminder::NoLongerApplies) => {
                return Some(Outcome::Cancelled {
                    reason: "booking no longer confirmed".to_string(),
                })
            }
            Err(error) => {
                tracing::error!(%error, reference = %row.reference, "mail worker: database error");
                return None;
            }
        }
    } else {
        // Its content goes with its row (erasing personal data removes both).
        let Some(content) = content else {
            return Some(Outcome::Cancelled {
                reason: "message no longer stored".to_string(),
            });
        };
        // Stored sealed; a key other than the one it was sealed with cannot
        // open it, and no later attempt will do better.
        content
            .opened(&state.server_key)
            .map_err(|error| error.to_string())
    };
    let content = match written {
        Ok(content) => content,
        Err(error) => return Some(Outcome::Failed { error }),
    };
    let result = match build_message(settings, row, &content) {
        Ok(message) => transport.send(message).await,
        Err(error) => Err(error),
    };
    Some(match result {
        Ok(()) => Outcome::Sent,
        Err(error) => after_failure(
            settings,
            row.attempts,
            row.failing_since,
            error,
            Utc::now().naive_utc(),
        ),
    })
}

fn log_outcome(row: &OutboxRow, outcome: &Outcome) {
    match outcome {
        Outcome::Sent => {
            tracing::info!(reference = %row.reference, outbox_id = row.id, kind = %row.kind, "mail sent")
        }
        Outcome::Retry { error, .. } => tracing::warn!(
            reference = %row.reference, outbox_id = row.id, kind = %row.kind,
            attempts = row.attempts + 1, %error, "mail delivery failed; will retry"
        ),
        Outcome::Failed { error } => tracing::error!(
            reference = %row.reference, outbox_id = row.id, kind = %row.kind,
            attempts = row.attempts + 1, %error, "mail delivery failed for good"
        ),
        Outcome::Cancelled { .. } => tracing::info!(
            reference = %row.reference, outbox_id = row.id, kind = %row.kind,
            "mail withdrawn: no longer applies"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Settings;

    #[tokio::test(start_paused = true)]
    async fn claims_wait_to_gather_after_a_partial_batch_and_not_after_a_full_one() {
        let gate = Arc::new(ClaimGate::default());
        let start = tokio::time::Instant::now();
        // Three deliveries woken together, each to claim one booking's two
        // messages: they go one at a time, GATHER apart.
        let deliveries: Vec<_> = (0..3)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move {
                    gate.turn().await;
                    let at = start.elapsed();
                    gate.took(2);
                    at
                })
            })
            .collect();
        let mut claimed_at = Vec::new();
        for delivery in deliveries {
            claimed_at.push(delivery.await.unwrap());
        }
        claimed_at.sort();
        assert_eq!(claimed_at, [GATHER, GATHER * 2, GATHER * 3]);
        // After a full batch (a backlog) claims go at once, side by side.
        gate.took(BATCH);
        let after_full = tokio::time::Instant::now();
        let together: Vec<_> = (0..3)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.turn().await })
            })
            .collect();
        for delivery in together {
            delivery.await.unwrap();
        }
        assert_eq!(after_full.elapsed(), Duration::ZERO);
        // Once a claim finds less, the wait is back.
        gate.took(5);
        let after_partial = tokio::time::Instant::now();
        gate.turn().await;
        assert_eq!(after_partial.elapsed(), GATHER);
    }

    #[test]
    fn backoff_doubles_from_the_initial_delay_up_to_the_maximum() {
        let settings = Settings::defaults().unwrap().mail;
        let delays: Vec<u64> = (1..=10).map(|n| backoff(&settings, n).as_secs()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
    }

    #[test]
    fn a_permanent_rejection_fails_after_its_own_attempt_limit() {
        let settings = Settings::defaults().unwrap().mail;
        let now = Utc::now().naive_utc();
        let rejected = || SendError {
            permanent: true,
            detail: "550".into(),
        };
        assert!(matches!(
            after_failure(&settings, 0, None, rejected(), now),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            after_failure(
                &settings,
                settings.max_attempts_permanent - 1,
                Some(now),
                rejected(),
                now
            ),
            Outcome::Failed { .. }
        ));
    }

    /// The default delays, tried back to back from the first failure: a
    /// server down for three days never loses a message, however many
    /// attempts that takes (a count of 30 ran out after about 4 hours).
    #[test]
    fn temporary_failures_are_retried_for_72_hours_whatever_the_count() {
        let settings = Settings::defaults().unwrap().mail;
        assert_eq!(settings.retry_for_hours, 72.0);
        let down = || SendError {
            permanent: false,
            detail: "connection refused".into(),
        };
        let first = Utc::now().naive_utc();
        let (mut now, mut attempts, mut since) = (first, 0, None);
        let gave_up_at = loop {
            match after_failure(&settings, attempts, since, down(), now) {
                Outcome::Retry {
                    at, failing_since, ..
                } => {
                    assert_eq!(
                        failing_since, first,
                        "the window starts at the first failure"
                    );
                    assert!(at > now || at == failing_since + chrono::Duration::hours(72));
                    since = Some(failing_since);
                    attempts += 1;
                    now = at;
                }
                Outcome::Failed { .. } => break now,
                other => panic!("{other:?}"),
            }
            assert!(attempts < 10_000, "never gave up");
        };
        assert_eq!(gave_up_at, first + chrono::Duration::hours(72));
        assert!(attempts > 400, "{attempts} attempts in 72 hours");
    }
}
