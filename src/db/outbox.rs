//! The outbox: every email, written in the transaction of the change that
//! caused it, claimed and delivered by a mail worker. Also the queries staff
//! use to see what was sent and what failed.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::prepared::KeepPrepared;
use super::schema::{outbox, outbox_contents};
use super::DbConnection;
use crate::domain::mailbox_key;
use crate::error::ApiError;
use crate::server_key::{Purpose, ServerKey};

/// The kinds of message, as stored in `outbox.kind`.
pub mod kind {
    pub const BOOKING_CONFIRMED: &str = "booking_confirmed";
    pub const BOOKING_RESCHEDULED: &str = "booking_rescheduled";
    pub const BOOKING_CANCELLED: &str = "booking_cancelled";
    pub const BOOKING_REMINDER: &str = "booking_reminder";
    pub const CLINIC_BOOKING_CONFIRMED: &str = "clinic_booking_confirmed";
    pub const CLINIC_BOOKING_RESCHEDULED: &str = "clinic_booking_rescheduled";
    pub const CLINIC_BOOKING_CANCELLED: &str = "clinic_booking_cancelled";
    pub const INQUIRY_RECEIVED: &str = "inquiry_received";
    pub const CLINIC_INQUIRY: &str = "clinic_inquiry";
    pub const WAITLIST_JOINED: &str = "waitlist_joined";
    pub const WAITLIST_OFFER: &str = "waitlist_offer";
}

/// Whether a message of `kind` is written when it is due, not when it is
/// queued: a reminder is written from the booking as it then stands (its
/// time, its practitioner: `mail::worker`), so its row holds no text and
/// nothing of it is stored.
pub fn written_when_due(kind: &str) -> bool {
    kind == kind::BOOKING_REMINDER
}

/// Where a message stands: `pending` until delivered (`sent`), given up
/// (`failed`, after the configured attempts), over the per-recipient cap
/// (`suppressed`, never sent) or no longer wanted (`cancelled`, e.g. the
/// reminder of a cancelled booking).
pub mod status {
    pub const PENDING: &str = "pending";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
    pub const SUPPRESSED: &str = "suppressed";
    pub const CANCELLED: &str = "cancelled";
}

/// A message's delivery state (what it says is in `OutboxContent`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub audience: String,
    pub reference: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// When its current run of failed attempts began (`None`: it has not
    /// failed since it was queued or requeued).
    pub failing_since: Option<NaiveDateTime>,
}

/// What a message says: written once, beside its `outbox` row, and never
/// changed (so that claims and outcomes rewrite only the small state row).
/// Stored sealed with the server key (a confirmation carries the manage
/// link) and only while the message may still be sent: a message sent,
/// withdrawn or suppressed keeps no content. A failed one keeps it, sealed,
/// for staff to send it again (`workflows::outbox_retry`). A reminder has
/// none (`written_when_due`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox_contents, treat_none_as_default_value = false)]
pub struct OutboxContent {
    pub outbox_id: i64,
    pub subject: String,
    pub body: String,
    pub ics: Option<String>,
}

impl OutboxContent {
    /// What the message says in clear (sealed as stored, or as handed over
    /// in memory, or as stored in clear by an earlier version).
    pub fn opened(&self, key: &ServerKey) -> Result<OutboxContent, crate::server_key::OpenError> {
        let ics = match &self.ics {
            Some(ics) => Some(key.open(Purpose::MailCalendar, ics)?.into_owned()),
            None => None,
        };
        Ok(OutboxContent {
            outbox_id: self.outbox_id,
            subject: self.subject.clone(),
            body: key.open(Purpose::MailBody, &self.body)?.into_owned(),
            ics,
        })
    }
}

/// A message to store: its state and what it says.
#[derive(Debug, Clone)]
pub struct NewOutboxRow {
    pub kind: String,
    pub audience: String,
    pub reference: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub ics: Option<String>,
    /// What the database keeps of `recipient`, `body` and `ics`.
    pub kept: Kept,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    /// Stored leased (to this instance's worker, which is handed it in
    /// memory: `mail::handoff`), or `None`.
    pub locked_until: Option<NaiveDateTime>,
    pub lease_owner: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What the database keeps of a message's text and recipient: the text
/// sealed, and the mailbox key of a patient's message the per-recipient cap
/// counts. Worked out when the message is written, before the transaction
/// that stores it, so that SQLite's one writer spends its time on writes.
#[derive(Debug, Clone)]
pub struct Kept {
    body: String,
    ics: Option<String>,
    recipient_key: Option<String>,
}

impl Kept {
    /// What is kept of a message of `kind`: nothing for one written when
    /// it is due (`written_when_due`): no text to seal, and no mailbox key,
    /// since the cap counts only what is sent now.
    pub fn of(
        kind: &str,
        audience: &str,
        recipient: &str,
        body: &str,
        ics: Option<&str>,
        key: &ServerKey,
    ) -> Result<Kept, ApiError> {
        if written_when_due(kind) {
            return Ok(Kept {
                body: String::new(),
                ics: None,
                recipient_key: None,
            });
        }
        let recipient_key = (audience == "patient").then(|| mailbox_key(recipient));
        Ok(Kept {
            body: key.seal(Purpose::MailBody, body)?,
            ics: match ics {
                Some(ics) => Some(key.seal(Purpose::MailCalendar, ics)?),
                None => None,
            },
            recipient_key,
        })
    }

    /// The recipient's mailbox key, for a patient's message the cap counts.
    pub fn recipient_key(&self) -> Option<&str> {
        self.recipient_key.as_deref()
    }
}

/// The `outbox` row of a `NewOutboxRow`.
#[derive(Insertable)]
#[diesel(table_name = outbox, treat_none_as_default_value = false)]
struct NewState<'a> {
    kind: &'a str,
    audience: &'a str,
    reference: &'a str,
    recipient: &'a str,
    status: &'a str,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    locked_until: Option<NaiveDateTime>,
    lease_owner: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    recipient_key: Option<&'a str>,
}

impl NewOutboxRow {
    fn state(&self) -> NewState<'_> {
        NewState {
            kind: &self.kind,
            audience: &self.audience,
            reference: &self.reference,
            recipient: &self.recipient,
            status: &self.status,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            locked_until: self.locked_until,
            lease_owner: self.lease_owner.as_deref(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            // The per-recipient cap counts patients' messages by mailbox.
            recipient_key: self.kept.recipient_key(),
        }
    }

    /// The row and content stored under `id`, as a claim would read them.
    pub fn stored(self, id: i64) -> (OutboxRow, OutboxContent) {
        let row = OutboxRow {
            id,
            kind: self.kind,
            audience: self.audience,
            reference: self.reference,
            recipient: self.recipient,
            status: self.status,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            locked_until: self.locked_until,
            lease_owner: self.lease_owner,
            last_error: None,
            created_at: self.created_at,
            updated_at: self.updated_at,
            sent_at: None,
            failing_since: None,
        };
        let content = OutboxContent {
            outbox_id: id,
            subject: self.subject,
            body: self.body,
            ics: self.ics,
        };
        (row, content)
    }

    /// What the database keeps of it: the text sealed; nothing for a
    /// message that will never be sent (suppressed), nor for one written
    /// when it is due.
    fn sealed_content(&self, outbox_id: i64) -> Option<OutboxContent> {
        if self.status != status::PENDING || written_when_due(&self.kind) {
            return None;
        }
        Some(OutboxContent {
            outbox_id,
            subject: self.subject.clone(),
            body: self.kept.body.clone(),
            ics: self.kept.ics.clone(),
        })
    }
}

/// What staff may see of a message: no address and no body (the error text
/// has addresses removed before it is stored).
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct OutboxSummary {
    pub id: i64,
    pub kind: String,
    pub audience: String,
    pub reference: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, message: &NewOutboxRow) -> Result<i64, ApiError> {
    let stored = insert_all(conn, std::slice::from_ref(message))?;
    Ok(stored[0].0)
}

/// Stores several messages; (id, kind, status) of each, in the order given.
///
/// PostgreSQL gets two statements whatever the number (the states, then
/// what they say: each statement is a round trip). SQLite runs in-process,
/// where prepared single-row statements are cheaper: a multi-row INSERT is
/// parsed and planned afresh every time (it was a third of the SQLite
/// writer's time), and `RETURNING` builds a temporary table per statement
/// where `last_insert_rowid()` reads a number.
pub fn insert_all(
    conn: &mut DbConnection,
    messages: &[NewOutboxRow],
) -> Result<Vec<(i64, String, String)>, ApiError> {
    match conn {
        DbConnection::Postgresql(pg) => insert_all_at_once(pg, messages),
        DbConnection::Sqlite(sqlite) => {
            let mut stored = Vec::with_capacity(messages.len());
            for message in messages {
                diesel::insert_into(outbox::table)
                    .values(message.state())
                    .execute(sqlite)?;
                let id: i64 = diesel::select(last_insert_rowid()).get_result(sqlite)?;
                if let Some(content) = message.sealed_content(id) {
                    diesel::insert_into(outbox_contents::table)
                        .values(content)
                        .execute(sqlite)?;
                }
                stored.push((id, message.kind.clone(), message.status.clone()));
            }
            Ok(stored)
        }
    }
}

fn insert_all_at_once(
    conn: &mut diesel::PgConnection,
    messages: &[NewOutboxRow],
) -> Result<Vec<(i64, String, String)>, ApiError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let states: Vec<NewState> = messages.iter().map(NewOutboxRow::state).collect();
    let mut stored: Vec<(i64, String, String)> = KeepPrepared(
        diesel::insert_into(outbox::table)
            .values(&states)
            .returning((outbox::id, outbox::kind, outbox::status)),
    )
    .get_results(conn)?;
    // RETURNING promises no order, but one statement numbers its rows in
    // the order of its VALUES (a single sequence, ascending): the smallest
    // id is the first message.
    stored.sort_by_key(|(id, _, _)| *id);
    let paired = stored.len() == messages.len()
        && stored
            .iter()
            .zip(messages)
            .all(|((_, kind, status), message)| *kind == message.kind && *status == message.status);
    if !paired {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "the stored outbox rows do not match the messages given"
        )));
    }
    let mut contents = Vec::with_capacity(messages.len());
    for (message, (id, _, _)) in messages.iter().zip(&stored) {
        contents.extend(message.sealed_content(*id));
    }
    if !contents.is_empty() {
        // The ids returned are not needed: reading them is what lets the
        // statement be kept prepared (see `KeepPrepared`).
        let _: Vec<i64> = KeepPrepared(
            diesel::insert_into(outbox_contents::table)
                .values(&contents)
                .returning(outbox_contents::outbox_id),
        )
        .get_results(conn)?;
    }
    Ok(stored)
}

/// What the messages `ids` say (those that still exist).
pub fn contents(conn: &mut DbConnection, ids: &[i64]) -> Result<Vec<OutboxContent>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(outbox_contents::table
        .filter(outbox_contents::outbox_id.eq_any(ids))
        .select(OutboxContent::as_select())
        .load(conn)?)
}

diesel::define_sql_function!(
    /// SQLite: the rowid of this connection's last INSERT.
    fn last_insert_rowid() -> diesel::sql_types::BigInt
);

/// Messages to the mailbox `recipient_key` (`domain::mailbox_key`) created
/// since `since` that count against the per-recipient cap: patient
/// messages that were (or will be) sent now. Reminders are scheduled for
/// later and suppressed ones were never sent, so neither counts. Spellings
/// of one mailbox (case, `+tag`, Gmail's dots: `domain::normalised_mailbox`)
/// count together.
pub fn recent_count_for(
    conn: &mut DbConnection,
    recipient_key: &str,
    reminder_kind: &str,
    since: NaiveDateTime,
) -> Result<i64, ApiError> {
    Ok(outbox::table
        .filter(outbox::recipient_key.eq(recipient_key))
        .filter(outbox::audience.eq("patient"))
        .filter(outbox::created_at.ge(since))
        .filter(outbox::status.ne(status::SUPPRESSED))
        .filter(outbox::kind.ne(reminder_kind))
        .count()
        .get_result(conn)?)
}

/// Withdraws the pending messages of one kind for a reference (a reminder
/// when its booking is cancelled or moved).
pub fn cancel_pending(
    conn: &mut DbConnection,
    reference: &str,
    kind: &str,
    now: NaiveDateTime,
) -> Result<usize, ApiError> {
    let withdrawn: Vec<i64> = super::each_backend!(conn, c => diesel::update(
        outbox::table
            .filter(outbox::reference.eq(reference))
            .filter(outbox::kind.eq(kind))
            .filter(outbox::status.eq(status::PENDING)),
    )
    .set((
        outbox::status.eq(status::CANCELLED),
        outbox::updated_at.eq(now),
    ))
    .returning(outbox::id)
    .get_results(c))?;
    drop_contents(conn, &withdrawn)?;
    Ok(withdrawn.len())
}

/// Deletes what the messages `ids` say, once none of them can be sent any
/// more: neither a copy of the database nor the key then holds their text.
fn drop_contents(conn: &mut DbConnection, ids: &[i64]) -> Result<(), ApiError> {
    if !ids.is_empty() {
        diesel::delete(outbox_contents::table.filter(outbox_contents::outbox_id.eq_any(ids)))
            .execute(conn)?;
    }
    Ok(())
}

/// A message's status, in a form no index can serve (`status || ''`), for
/// statements that pick their rows by id: given `id IN (...) AND status =
/// 'pending'`, SQLite's planner prefers the due index for the status and
/// walks every pending message (the whole backlog under a rush) instead of
/// looking the ids up.
fn unindexed_status() -> diesel::dsl::Concat<outbox::status, &'static str> {
    outbox::status.concat("")
}

/// Messages no worker holds at `now`: never leased, or held past the lease.
#[diesel::dsl::auto_type]
fn unleased(now: NaiveDateTime) -> _ {
    outbox::locked_until
        .is_null()
        .or(outbox::locked_until.lt(now))
}

/// The messages a mail worker may take at `now`: pending, due and
/// `unleased`. Served by the due index (`status`, `next_attempt_at`).
#[diesel::dsl::auto_type]
fn claimable(now: NaiveDateTime) -> _ {
    let pending: &'static str = status::PENDING;
    let free: unleased = unleased(now);
    outbox::status
        .eq(pending)
        .and(outbox::next_attempt_at.le(now))
        .and(free)
}

/// Claims up to `limit` due messages for `owner` until `lease_until`,
/// oldest first (none: nothing is due, or others hold it all). Three
/// statements whatever the batch size: the candidates, the pending mail of
/// their bookings (for the order rule below), and one UPDATE ... RETURNING.
///
/// On PostgreSQL the candidates are locked as they are read (`FOR UPDATE
/// SKIP LOCKED`): another worker claiming at the same moment gets other
/// rows instead of waiting for these. On SQLite writers are serialised
/// anyway. The UPDATE still checks that each row is pending and free.
pub fn claim_due(
    conn: &mut DbConnection,
    owner: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: usize,
) -> Result<Vec<OutboxRow>, ApiError> {
    let limit = limit.max(1);
    // Exactly `limit` candidates: on PostgreSQL each one read is locked
    // until this claim commits, and others skip it meanwhile.
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX);
    macro_rules! due {
        () => {
            outbox::table
                .filter(claimable(now))
                .order((outbox::next_attempt_at.asc(), outbox::id.asc()))
                .select((outbox::id, outbox::reference, outbox::recipient))
                .limit(fetch)
        };
    }
    let candidates: Vec<(i64, String, String)> = match conn {
        DbConnection::Postgresql(pg) => due!().for_update().skip_locked().load(pg)?,
        DbConnection::Sqlite(sqlite) => due!().load(sqlite)?,
    };
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // One person hears about one booking in order (confirmed, moved,
    // cancelled), even with several deliveries at once: a message waits
    // while an earlier one to the same address about the same booking is
    // still pending (retries included, and whoever holds it). A reminder
    // waits for its day; it holds nothing up.
    // (Filtered by reference alone, so that the planner takes the reference
    // index: `status = 'pending'` would tempt SQLite into walking the whole
    // backlog by the due index. A booking has a handful of messages.)
    let references: Vec<&str> = candidates.iter().map(|(_, r, _)| r.as_str()).collect();
    let mail_of_bookings: Vec<(i64, String, String, String, String)> = outbox::table
        .filter(outbox::reference.eq_any(&references))
        .select((
            outbox::id,
            outbox::reference,
            outbox::recipient,
            outbox::status,
            outbox::kind,
        ))
        .load(conn)?;
    let chosen: Vec<i64> = candidates
        .iter()
        .filter(|(id, reference, recipient)| {
            !mail_of_bookings.iter().any(|(other, r, to, state, kind)| {
                other < id
                    && r == reference
                    && to == recipient
                    && state == status::PENDING
                    && kind != kind::BOOKING_REMINDER
            })
        })
        .map(|(id, _, _)| *id)
        .collect();
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let mut claimed: Vec<OutboxRow> = super::each_backend!(conn, c => diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(&chosen))
            .filter(unindexed_status().eq(status::PENDING))
            .filter(unleased(now)),
    )
    .set((
        outbox::locked_until.eq(Some(lease_until)),
        outbox::lease_owner.eq(Some(owner)),
    ))
    .returning(OutboxRow::as_returning())
    .get_results(c))?;
    // Handed over in the order they came due: a batch stops at the first
    // temporary failure, and a message retried at every claim must not
    // keep the others of its batch from being tried.
    claimed.sort_by_key(|row| (row.next_attempt_at, row.id));
    Ok(claimed)
}

/// Gives back messages `owner` claimed but did not try (their batch was
/// cut short), untouched: no attempt is counted.
pub fn release(conn: &mut DbConnection, ids: &[i64], owner: &str) -> Result<usize, ApiError> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::lease_owner.eq(owner))
            .filter(unindexed_status().eq(status::PENDING)),
    )
    .set((
        outbox::locked_until.eq(None::<NaiveDateTime>),
        outbox::lease_owner.eq(None::<String>),
    ))
    .execute(conn)?)
}

/// The outcome of one delivery attempt, written by the worker that holds
/// the lease.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent,
    /// Try again at `at`; the failures began at `failing_since`.
    Retry {
        at: NaiveDateTime,
        error: String,
        failing_since: NaiveDateTime,
    },
    Failed {
        error: String,
    },
    /// Not sent because it no longer applies (e.g. a reminder for a booking
    /// that was cancelled meanwhile).
    Cancelled {
        reason: String,
    },
}

/// Records that the messages `ids` (held by `owner`) were sent, in one
/// statement; returns the ids it recorded (a lease lost meanwhile is not).
pub fn record_sent(
    conn: &mut DbConnection,
    ids: &[i64],
    owner: &str,
    now: NaiveDateTime,
) -> Result<Vec<i64>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sent: Vec<i64> = super::each_backend!(conn, c => diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::lease_owner.eq(owner))
            .filter(unindexed_status().eq(status::PENDING)),
    )
    .set((
        outbox::status.eq(status::SENT),
        outbox::attempts.eq(outbox::attempts + 1),
        outbox::sent_at.eq(Some(now)),
        outbox::locked_until.eq(None::<NaiveDateTime>),
        outbox::lease_owner.eq(None::<String>),
        outbox::updated_at.eq(now),
    ))
    .returning(outbox::id)
    .get_results(c))?;
    drop_contents(conn, &sent)?;
    Ok(sent)
}

/// Records an attempt on a message `owner` holds; `false` when the lease
/// was lost (another worker took the row over after it expired). A message
/// sent or withdrawn loses its content; a failed one keeps it (sealed) for
/// staff to send it again.
pub fn record_attempt(
    conn: &mut DbConnection,
    id: i64,
    owner: &str,
    outcome: &Outcome,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    let mine = outbox::table
        .filter(outbox::id.eq(id))
        .filter(outbox::lease_owner.eq(owner))
        .filter(outbox::status.eq(status::PENDING));
    let release = (
        outbox::locked_until.eq(None::<NaiveDateTime>),
        outbox::lease_owner.eq(None::<String>),
        outbox::updated_at.eq(now),
    );
    let updated = match outcome {
        Outcome::Sent => diesel::update(mine)
            .set((
                outbox::status.eq(status::SENT),
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::sent_at.eq(Some(now)),
                release,
            ))
            .execute(conn)?,
        Outcome::Retry {
            at,
            error,
            failing_since,
        } => diesel::update(mine)
            .set((
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::next_attempt_at.eq(at),
                outbox::last_error.eq(Some(error)),
                outbox::failing_since.eq(Some(failing_since)),
                release,
            ))
            .execute(conn)?,
        Outcome::Failed { error } => diesel::update(mine)
            .set((
                outbox::status.eq(status::FAILED),
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::last_error.eq(Some(error)),
                release,
            ))
            .execute(conn)?,
        Outcome::Cancelled { reason } => diesel::update(mine)
            .set((
                outbox::status.eq(status::CANCELLED),
                outbox::last_error.eq(Some(reason)),
                release,
            ))
            .execute(conn)?,
    };
    if updated == 1 && matches!(outcome, Outcome::Sent | Outcome::Cancelled { .. }) {
        drop_contents(conn, &[id])?;
    }
    Ok(updated == 1)
}

/// What became of a staff request to send a failed message again.
#[derive(Debug)]
pub enum Requeued {
    /// It is pending again, due now.
    Done(OutboxSummary),
    /// It is not failed (its status is given): nothing changed.
    NotFailed(String),
    /// No message has that id.
    Unknown,
}

/// Puts failed message `id` back in the queue, due now, with a fresh retry
/// window (its attempts so far stay counted, so one more permanent refusal
/// fails it again). Only a failed message: one that is pending, sent,
/// suppressed or withdrawn is left as it is.
pub fn requeue_failed(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
) -> Result<Requeued, ApiError> {
    let updated = diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::status.eq(status::FAILED)),
    )
    .set((
        outbox::status.eq(status::PENDING),
        outbox::next_attempt_at.eq(now),
        outbox::failing_since.eq(None::<NaiveDateTime>),
        outbox::locked_until.eq(None::<NaiveDateTime>),
        outbox::lease_owner.eq(None::<String>),
        outbox::updated_at.eq(now),
    ))
    .execute(conn)?;
    let message = outbox::table
        .filter(outbox::id.eq(id))
        .select(OutboxSummary::as_select())
        .first(conn)
        .optional()?;
    Ok(match message {
        None => Requeued::Unknown,
        Some(message) if updated == 1 => Requeued::Done(message),
        Some(message) => Requeued::NotFailed(message.status),
    })
}

/// How many messages were sent since `since`, and when the first of them
/// went (for the global hourly cap).
pub fn sent_since(
    conn: &mut DbConnection,
    since: NaiveDateTime,
) -> Result<(i64, Option<NaiveDateTime>), ApiError> {
    Ok(outbox::table
        .filter(outbox::sent_at.ge(since))
        .select((diesel::dsl::count_star(), diesel::dsl::min(outbox::sent_at)))
        .first(conn)?)
}

/// Messages for staff, newest first, optionally of one status
/// (`pending`, `sent`, `failed`, `suppressed`, `cancelled`).
pub fn list(
    conn: &mut DbConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxSummary>, ApiError> {
    page(conn, status, None, limit)
}

/// Like `list`, continuing below the message `before` (an id): the pages of
/// the staff outbox list.
pub fn page(
    conn: &mut DbConnection,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<OutboxSummary>, ApiError> {
    let mut query = outbox::table
        .select(OutboxSummary::as_select())
        .order(outbox::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(outbox::status.eq(status.to_string()));
    }
    if let Some(before) = before {
        query = query.filter(outbox::id.lt(before));
    }
    Ok(query.load(conn)?)
}

/// The messages of one booking or inquiry, oldest first.
pub fn for_reference(
    conn: &mut DbConnection,
    reference: &str,
) -> Result<Vec<OutboxSummary>, ApiError> {
    Ok(outbox::table
        .filter(outbox::reference.eq(reference))
        .select(OutboxSummary::as_select())
        .order(outbox::id.asc())
        .load(conn)?)
}

/// How many messages are in each status (for staff and metrics).
pub fn count_by_status(conn: &mut DbConnection) -> Result<Vec<(String, i64)>, ApiError> {
    Ok(outbox::table
        .group_by(outbox::status)
        .select((outbox::status, diesel::dsl::count_star()))
        .order(outbox::status.asc())
        .load(conn)?)
}

/// When the oldest message still waiting was queued (for metrics).
pub fn oldest_pending(conn: &mut DbConnection) -> Result<Option<NaiveDateTime>, ApiError> {
    Ok(outbox::table
        .filter(outbox::status.eq("pending"))
        .select(diesel::dsl::min(outbox::created_at))
        .first(conn)?)
}

/// Whether any message is due now (a read, so that idle workers polling for
/// work write nothing). Ordered as the due index is, so that the planner
/// walks it: unordered, a LIMIT 1 over an outbox holding many reminders
/// tempts PostgreSQL into scanning the whole table for a first match, and
/// when nothing is due, the usual answer of an idle poll, it reads every
/// row to find none.
pub fn has_due(conn: &mut DbConnection, now: NaiveDateTime) -> Result<bool, ApiError> {
    let due: Option<i64> = outbox::table
        .filter(claimable(now))
        .order(outbox::next_attempt_at.asc())
        .select(outbox::id)
        .first(conn)
        .optional()?;
    Ok(due.is_some())
}

/// One message as staff see it.
pub fn find_summary(conn: &mut DbConnection, id: i64) -> Result<Option<OutboxSummary>, ApiError> {
    Ok(outbox::table
        .find(id)
        .select(OutboxSummary::as_select())
        .get_result(conn)
        .optional()?)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::Utc;
    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use diesel::{Connection, RunQueryDsl};
    use diesel_migrations::MigrationHarness;

    use super::*;

    #[derive(diesel::QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    /// The statements `work` sends, as SQL text (binds left out).
    fn statements_of(conn: &mut DbConnection, work: impl FnOnce(&mut DbConnection)) -> Vec<String> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let DbConnection::Sqlite(sqlite) = conn else {
            unreachable!("a SQLite connection")
        };
        sqlite.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                let text = query.to_string();
                let sql = text.split(" -- binds:").next().unwrap_or_default();
                recorder.lock().unwrap().push(sql.to_string());
            }
        });
        work(conn);
        let DbConnection::Sqlite(sqlite) = conn else {
            unreachable!()
        };
        sqlite.set_instrumentation(None::<Box<dyn Instrumentation>>);
        let statements = seen.lock().unwrap().clone();
        statements
    }

    /// The steps of SQLite's plan for `sql`.
    fn plan_of(conn: &mut DbConnection, sql: &str) -> Vec<String> {
        let plan: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(conn)
            .unwrap();
        plan.into_iter().map(|row| row.detail).collect()
    }

    /// With a backlog of pending mail, the poll and the claim find what is
    /// due by the due index, and claiming and recording look up the
    /// chosen rows by id: SQLite must not walk the due index over every
    /// pending message for them (it did, and the mail worker slowed down
    /// as the backlog grew).
    #[test]
    fn claims_and_records_look_up_their_rows_by_id_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db").display().to_string();
        let mut sqlite = crate::db::sqlite_memory::establish(&path).unwrap();
        sqlite
            .run_pending_migrations(crate::db::migrations::SQLITE_MIGRATIONS)
            .unwrap();
        sqlite
            .batch_execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
                 INSERT INTO outbox (kind, audience, reference, recipient, status, attempts,
                     next_attempt_at, created_at, updated_at)
                 SELECT 'booking_confirmed', 'patient', printf('R%05d', i), 'taro@example.jp',
                     'pending', 0, '2026-11-25 00:00:00', '2026-11-25 00:00:00',
                     '2026-11-25 00:00:00' FROM n;",
            )
            .unwrap();
        let mut conn = DbConnection::Sqlite(sqlite);
        let now = Utc::now().naive_utc();
        let statements = statements_of(&mut conn, |conn| {
            assert!(has_due(conn, now).unwrap());
            let claimed = claim_due(conn, "worker-1", now, now, 32).unwrap();
            assert_eq!(claimed.len(), 32);
            let ids: Vec<i64> = claimed.iter().map(|row| row.id).collect();
            assert_eq!(
                record_sent(conn, &ids[..16], "worker-1", now)
                    .unwrap()
                    .len(),
                16
            );
            assert_eq!(release(conn, &ids[16..], "worker-1").unwrap(), 16);
        });
        // What is due is found by the due index, by the poll and the claim.
        let due: Vec<&String> = statements
            .iter()
            .filter(|sql| sql.starts_with("SELECT") && sql.contains("`next_attempt_at` <="))
            .collect();
        assert_eq!(due.len(), 2, "{statements:#?}");
        for sql in due {
            let plan = plan_of(&mut conn, sql);
            assert!(
                plan.iter().any(|step| step.contains("outbox_due")),
                "{sql}\n{plan:?}"
            );
        }
        let by_id: Vec<&String> = statements
            .iter()
            .filter(|sql| sql.starts_with("UPDATE"))
            .collect();
        assert_eq!(by_id.len(), 3, "{statements:#?}");
        for sql in by_id {
            let plan = plan_of(&mut conn, sql);
            assert!(
                plan.iter().any(|step| step.contains("INTEGER PRIMARY KEY"))
                    && !plan.iter().any(|step| step.contains("outbox_due")),
                "{sql}\n{plan:?}"
            );
        }
    }

    /// The cap counts a patient's messages sent now by their mailbox key;
    /// a reminder (sent later) and the clinic's copy carry none, so they
    /// add nothing to the key's index.
    #[test]
    fn only_patient_messages_sent_now_keep_a_mailbox_key() {
        let key = ServerKey::from_material(&[7; 32]).unwrap();
        let kept = |kind: &str, audience: &str| {
            Kept::of(kind, audience, "Taro@example.jp", "本文", None, &key).unwrap()
        };
        assert_eq!(
            kept(kind::BOOKING_CONFIRMED, "patient").recipient_key(),
            Some(mailbox_key("taro@example.jp").as_str())
        );
        assert_eq!(
            kept(kind::BOOKING_REMINDER, "patient").recipient_key(),
            None
        );
        assert_eq!(
            kept(kind::CLINIC_BOOKING_CONFIRMED, "clinic").recipient_key(),
            None
        );
    }
}
