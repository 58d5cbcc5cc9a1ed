//! Writing messages to the outbox. Call these inside the transaction that
//! makes the change: the messages are committed with it or not at all.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::db::bookings::BookingRow;
use crate::db::inquiries::InquiryRow;
use crate::db::outbox::kind;
use crate::db::outbox::{self, status, Kept, NewOutboxRow};
use crate::db::{self, DbConnection};
use crate::error::ApiError;
use crate::ics::Method;
use crate::mail::handoff::Handed;
use crate::mail::messages::{self, BookingChange, Rendered};
use crate::server_key::ServerKey;
use crate::state::AppState;

/// Which booking mail to send. The patient's confirmation carries the manage
/// link, which exists only while the plain token is at hand (when the
/// booking is made); a move or cancellation refers to the earlier mail and
/// the clinic's phone instead.
#[derive(Debug, Clone, Copy)]
pub enum BookingMail<'a> {
    /// A new booking; `manage_token` is the plain token just generated
    /// (`None` when there is none, e.g. one entered by staff without a link).
    Confirmed {
        manage_token: Option<&'a str>,
        /// The booking's intake questionnaire is still to be answered: the
        /// confirmation asks for it through the manage link.
        questionnaire_pending: bool,
    },
    /// Moved; `previous` is the old (start_at, end_at) in UTC, when known.
    Rescheduled {
        previous: Option<(NaiveDateTime, NaiveDateTime)>,
    },
    Cancelled,
}

fn render_error(error: askama::Error) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("cannot render an email: {error}"))
}

/// Queues the patient's message (unless the per-recipient cap is reached),
/// the clinic's notification and, for a confirmed booking, its reminder;
/// withdraws a pending reminder that no longer applies. `row` is the booking
/// as it stands after the change.
///
/// Rule: a patient gets at most `mail.max_per_recipient_per_hour` messages
/// an hour; more are recorded as `suppressed` and not sent, while the
/// booking stands and the clinic is still told.
pub fn enqueue_booking_mail(
    conn: &mut DbConnection,
    state: &AppState,
    row: &BookingRow,
    mail: BookingMail<'_>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let rendered = render_booking_mail(state, row, mail, now)?;
    store_booking_mail(conn, state, row, rendered, now)
}

/// The messages of one booking change, written but not yet stored: their
/// text needs no database, so a new booking's mail is rendered before its
/// transaction (the SQLite writer is the service's one serial resource).
pub struct BookingMessages {
    /// The reference the messages name.
    reference: String,
    sequence: i32,
    /// The patient's message, whose status the per-recipient cap decides.
    patient: NewOutboxRow,
    /// The clinic's notification and the reminder, if any.
    others: Vec<NewOutboxRow>,
}

impl BookingMessages {
    /// Whether these messages were written for `row` as it now stands.
    pub fn are_for(&self, row: &BookingRow) -> bool {
        self.reference == row.reference && self.sequence == row.sequence
    }
}

/// Writes the messages of a change to `row` (see `enqueue_booking_mail`).
pub fn render_booking_mail(
    state: &AppState,
    row: &BookingRow,
    mail: BookingMail<'_>,
    now: DateTime<Utc>,
) -> Result<BookingMessages, ApiError> {
    let settings = &state.settings;
    let calendar = &state.calendar;
    let questionnaire_pending = matches!(
        mail,
        BookingMail::Confirmed {
            manage_token: Some(_),
            questionnaire_pending: true,
        }
    );
    let (change, manage_url, patient_kind, clinic_kind, method) = match mail {
        BookingMail::Confirmed { manage_token, .. } => (
            BookingChange::Booked,
            manage_token.map(|token| state.manage_url(&row.reference, token)),
            kind::BOOKING_CONFIRMED,
            kind::CLINIC_BOOKING_CONFIRMED,
            Method::Publish,
        ),
        BookingMail::Rescheduled { previous } => (
            BookingChange::Rescheduled(previous),
            None,
            kind::BOOKING_RESCHEDULED,
            kind::CLINIC_BOOKING_RESCHEDULED,
            Method::Publish,
        ),
        BookingMail::Cancelled => (
            BookingChange::Cancelled,
            None,
            kind::BOOKING_CANCELLED,
            kind::CLINIC_BOOKING_CANCELLED,
            Method::Cancel,
        ),
    };
    let patient = messages::patient_booking(
        settings,
        calendar,
        row,
        change,
        manage_url.as_deref(),
        questionnaire_pending,
    )
    .map_err(render_error)?;
    let ics = messages::patient_calendar(settings, calendar, row, method, now);
    let patient = new_row(
        &state.server_key,
        patient_kind,
        "patient",
        &row.reference,
        &row.email,
        patient,
        Some(ics),
        now.naive_utc(),
        now,
    )?;
    let clinic = messages::clinic_booking(settings, calendar, row, change).map_err(render_error)?;
    let mut others = vec![clinic_row(state, clinic_kind, &row.reference, clinic, now)?];
    if change != BookingChange::Cancelled {
        others.extend(reminder_row(state, row, now)?);
    }
    Ok(BookingMessages {
        reference: row.reference.clone(),
        sequence: row.sequence,
        patient,
        others,
    })
}

/// Stores the messages rendered for `row` (in the change's transaction).
pub fn store_booking_mail(
    conn: &mut DbConnection,
    state: &AppState,
    row: &BookingRow,
    messages: BookingMessages,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !messages.are_for(row) {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "mail rendered for another state of booking {}",
            row.reference
        )));
    }
    // Whatever changed, the reminder queued for the old state no longer
    // applies (a new one is queued with a confirmed booking). A booking
    // still at sequence 0 has just been made and has none.
    if row.sequence > 0 {
        outbox::cancel_pending(
            conn,
            &row.reference,
            kind::BOOKING_REMINDER,
            now.naive_utc(),
        )?;
    }
    let BookingMessages {
        mut patient,
        others,
        ..
    } = messages;
    patient.status = patient_status(conn, state, &patient, now)?.to_string();
    let mut rows = Vec::with_capacity(1 + others.len());
    rows.push(patient);
    rows.extend(others);
    store(conn, state, &row.reference, rows, row.sequence == 0)
}

/// Queues the acknowledgement to an inquiry's sender (within the
/// per-recipient cap) and the clinic's copy.
pub fn enqueue_inquiry_mail(
    conn: &mut DbConnection,
    state: &AppState,
    row: &InquiryRow,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let acknowledgement =
        messages::inquiry_received(&state.settings, &state.calendar, row).map_err(render_error)?;
    let mut patient = new_row(
        &state.server_key,
        kind::INQUIRY_RECEIVED,
        "patient",
        &row.reference,
        &row.email,
        acknowledgement,
        None,
        now.naive_utc(),
        now,
    )?;
    patient.status = patient_status(conn, state, &patient, now)?.to_string();
    let clinic = messages::clinic_inquiry(&state.calendar, row).map_err(render_error)?;
    let clinic = clinic_row(state, kind::CLINIC_INQUIRY, &row.reference, clinic, now)?;
    store(conn, state, &row.reference, vec![patient, clinic], true)
}

/// Queues one message to a patient (within the per-recipient cap), e.g.
/// the waiting list's acknowledgement and offers.
pub fn enqueue_patient_message(
    conn: &mut DbConnection,
    state: &AppState,
    kind: &str,
    reference: &str,
    recipient: &str,
    rendered: Rendered,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut row = new_row(
        &state.server_key,
        kind,
        "patient",
        reference,
        recipient,
        rendered,
        None,
        now.naive_utc(),
        now,
    )?;
    row.status = patient_status(conn, state, &row, now)?.to_string();
    // Not `fresh`: an earlier message about the entry may still be pending,
    // so this one waits its turn with the worker's next poll.
    store(conn, state, reference, vec![row], false)
}

/// Stores the messages of one change with one statement, and says so in
/// the log (by reference and outbox id, never by address).
///
/// The messages of a new booking or inquiry (`fresh`: no earlier message
/// about it can be pending) that are due at once are stored leased to this
/// instance's worker and handed to it once the transaction is committed
/// (`mail::handoff`).
fn store(
    conn: &mut DbConnection,
    state: &AppState,
    reference: &str,
    mut rows: Vec<NewOutboxRow>,
    fresh: bool,
) -> Result<(), ApiError> {
    let handoff = &state.mail_handoff;
    let now = Utc::now().naive_utc();
    let lease_until = (fresh && db::takes_commit_hooks())
        .then(|| handoff.lease_until(now))
        .flatten();
    if let Some(until) = lease_until {
        for row in &mut rows {
            if row.status == status::PENDING && row.next_attempt_at <= now {
                row.locked_until = Some(until);
                row.lease_owner = Some(handoff.owner().to_string());
            }
        }
    }
    let stored = outbox::insert_all(conn, &rows)?;
    for (id, kind, status) in &stored {
        match status.as_str() {
            status::SUPPRESSED => tracing::warn!(
                %reference,
                outbox_id = id,
                kind,
                "patient mail suppressed: per-recipient hourly cap reached"
            ),
            _ if kind == kind::BOOKING_REMINDER => {
                tracing::info!(%reference, outbox_id = id, "reminder scheduled")
            }
            _ => tracing::info!(%reference, outbox_id = id, kind, "mail queued"),
        }
    }
    let leased_at = Instant::now();
    let handed: Vec<Handed> = rows
        .into_iter()
        .zip(&stored)
        .filter(|(row, _)| row.lease_owner.is_some())
        .map(|(row, (id, _, _))| {
            let (row, content) = row.stored(*id);
            Handed {
                row,
                content,
                leased_at,
            }
        })
        .collect();
    if !handed.is_empty() {
        let handoff = Arc::clone(handoff);
        db::on_commit(Box::new(move || handoff.give(handed))).map_err(|_| {
            ApiError::Internal(anyhow::anyhow!("mail leased outside a write transaction"))
        })?;
    }
    Ok(())
}

/// Rule: the reminder goes `mail.reminder_hours_before` hours before a
/// confirmed booking; none when that moment has already passed (the patient
/// has just been sent the confirmation). Its text is written when it is due
/// (`outbox::written_when_due`), once the worker has checked that the
/// booking is still confirmed.
fn reminder_row(
    state: &AppState,
    row: &BookingRow,
    now: DateTime<Utc>,
) -> Result<Option<NewOutboxRow>, ApiError> {
    let due = row.start_at - Duration::hours(state.settings.mail.reminder_hours_before);
    if due <= now.naive_utc() {
        return Ok(None);
    }
    let reminder = new_row(
        &state.server_key,
        kind::BOOKING_REMINDER,
        "patient",
        &row.reference,
        &row.email,
        Rendered::default(),
        None,
        due,
        now,
    )?;
    Ok(Some(reminder))
}

#[allow(clippy::too_many_arguments)]
fn new_row(
    key: &ServerKey,
    kind: &str,
    audience: &str,
    reference: &str,
    recipient: &str,
    rendered: Rendered,
    ics: Option<String>,
    due: NaiveDateTime,
    now: DateTime<Utc>,
) -> Result<NewOutboxRow, ApiError> {
    let kept = Kept::of(
        kind,
        audience,
        recipient,
        &rendered.body,
        ics.as_deref(),
        key,
    )?;
    Ok(NewOutboxRow {
        kind: kind.to_string(),
        audience: audience.to_string(),
        reference: reference.to_string(),
        recipient: recipient.to_string(),
        subject: rendered.subject,
        body: rendered.body,
        ics,
        kept,
        status: status::PENDING.to_string(),
        attempts: 0,
        next_attempt_at: due,
        locked_until: None,
        lease_owner: None,
        created_at: now.naive_utc(),
        updated_at: now.naive_utc(),
    })
}

/// The status of a new message to a patient: `suppressed` when the
/// per-recipient cap is reached.
fn patient_status(
    conn: &mut DbConnection,
    state: &AppState,
    message: &NewOutboxRow,
    now: DateTime<Utc>,
) -> Result<&'static str, ApiError> {
    let Some(recipient_key) = message.kept.recipient_key() else {
        return Ok(status::PENDING);
    };
    let since = now.naive_utc() - Duration::hours(1);
    let recent = outbox::recent_count_for(conn, recipient_key, kind::BOOKING_REMINDER, since)?;
    Ok(
        if recent >= state.settings.mail.max_per_recipient_per_hour {
            status::SUPPRESSED
        } else {
            status::PENDING
        },
    )
}

fn clinic_row(
    state: &AppState,
    kind: &str,
    reference: &str,
    rendered: Rendered,
    now: DateTime<Utc>,
) -> Result<NewOutboxRow, ApiError> {
    new_row(
        &state.server_key,
        kind,
        "clinic",
        reference,
        &state.settings.mail.clinic_inbox,
        rendered,
        None,
        now.naive_utc(),
        now,
    )
}
