//! The booking workflows (book, cancel, reschedule), each one transaction
//! that checks the clinic's rules and stores the change. The JSON API and
//! the HTML forms both call these.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::db::bookings::{self, BookingRow};
use crate::db::contact_keys;
use crate::db::resource_claims::Holder;
use crate::db::DbConnection;
use crate::domain::{
    any_token_matches, is_token_shaped, BookingStatus, ManageToken, NewBooking, Reference,
    SlotStart,
};
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::schedule::ConsultationType;
use crate::state::AppState;
use crate::webhooks::event;
pub use crate::workflows::audit::{audit, Actor};
use crate::workflows::outbox::{
    enqueue_booking_mail, render_booking_mail, store_booking_mail, BookingMail, BookingMessages,
};
use crate::workflows::questionnaire;
use crate::workflows::resources;
use crate::workflows::webhooks::{booking_event, Before};

/// A stored booking and the manage token its patient was given (shown once).
pub struct Booked {
    pub row: BookingRow,
    pub manage_token: ManageToken,
}

/// A new booking made ready outside its transaction: its reference, its
/// manage token and its emails need no database, and the SQLite writer (one
/// thread for every write) should spend its time on writes.
pub struct Prepared {
    row: BookingRow,
    manage_token: ManageToken,
    mail: BookingMessages,
}

/// Drafts `booking` and writes its emails (see `book`).
pub fn prepare(
    state: &AppState,
    booking: &NewBooking,
    now: DateTime<Utc>,
) -> Result<Prepared, ApiError> {
    let manage_token = ManageToken::generate();
    let named =
        resources::named_practitioner(state, &booking.kind, booking.practitioner.as_deref())?;
    let mut row = bookings::draft(
        booking,
        manage_token.hash(),
        &state.settings.privacy.notice_version,
        now.naive_utc(),
    );
    row.practitioner = named;
    let questionnaire_pending =
        questionnaire::pending_after_booking(&booking.kind.code, booking.answers.as_ref());
    let mail = confirmation(state, &row, &manage_token, questionnaire_pending, now)?;
    Ok(Prepared {
        row,
        manage_token,
        mail,
    })
}

fn confirmation(
    state: &AppState,
    row: &BookingRow,
    manage_token: &ManageToken,
    questionnaire_pending: bool,
    now: DateTime<Utc>,
) -> Result<BookingMessages, ApiError> {
    let mail = BookingMail::Confirmed {
        manage_token: Some(manage_token.expose()),
        questionnaire_pending,
    };
    render_booking_mail(state, row, mail, now)
}

/// Stores `booking` (prepared by `prepare` with the same `now`), claiming
/// every slot it covers; `SlotUnavailable` when one is full.
pub fn book(
    conn: &mut DbConnection,
    state: &AppState,
    booking: &NewBooking,
    prepared: Prepared,
    now: DateTime<Utc>,
) -> Result<Booked, ApiError> {
    let Prepared {
        mut row,
        manage_token,
        mut mail,
    } = prepared;
    ensure_not_closed(conn, state, booking.start.at(), &booking.kind)?;
    let history = ensure_under_cap(conn, state, &row, now)?;
    let slots = resources::seat_slots(state, &booking.kind, booking.start.at());
    bookings::insert(conn, &mut row, &slots, state.calendar.capacity_per_slot())?;
    watch_for_burst(state, &row.reference, history.recent + 1);
    let practitioner = resources::claim_for(
        conn,
        state,
        Holder::Booking(&row.reference),
        &booking.kind,
        booking.start.at(),
        row.practitioner.as_deref(),
    )?;
    let assigned = practitioner != row.practitioner;
    row.practitioner = practitioner;
    if !mail.are_for(&row) || assigned {
        // Its drafted reference was taken meanwhile (rare), or a
        // practitioner was assigned: the emails must name them.
        let questionnaire_pending =
            questionnaire::pending_after_booking(&booking.kind.code, booking.answers.as_ref());
        mail = confirmation(state, &row, &manage_token, questionnaire_pending, now)?;
    }
    questionnaire::store_with_booking(conn, &row.reference, booking.answers.as_ref(), now)?;
    audit(
        conn,
        &Actor::Patient,
        "booking.created",
        &row.reference,
        None,
        now,
    )?;
    store_booking_mail(conn, state, &row, mail, now)?;
    booking_event(
        conn,
        state,
        event::BOOKING_CREATED,
        &row,
        Before::default(),
        now,
    )?;
    tracing::info!(reference = %row.reference, "booking confirmed");
    crate::metrics::booking_created();
    Ok(Booked { row, manage_token })
}

/// Rule: one patient holds at most `booking.max_active_per_contact`
/// confirmed bookings still ahead, counted by mailbox (however the address
/// is spelled: `domain::normalised_mailbox`) and, with
/// `booking.cap_by_phone`, by phone number too; beyond it a new booking is
/// `TooManyActiveBookings`, so one client cannot fill the calendar. A move
/// keeps the count and is not checked. Runs in the booking's transaction
/// (under the patient's lock on PostgreSQL), so parallel requests cannot
/// pass the cap together. Returns the patient's history for the burst
/// watch.
fn ensure_under_cap(
    conn: &mut DbConnection,
    state: &AppState,
    row: &BookingRow,
    now: DateTime<Utc>,
) -> Result<contact_keys::ContactHistory, ApiError> {
    let settings = &state.settings.booking;
    let Some(mailbox) = row.mailbox_hash.as_deref() else {
        return Ok(contact_keys::ContactHistory::default());
    };
    if settings.max_active_per_contact == 0 && settings.burst_bookings == 0 {
        return Ok(contact_keys::ContactHistory::default());
    }
    let phone = settings.cap_by_phone.then_some(row.phone.as_str());
    contact_keys::lock(conn, mailbox, phone)?;
    let window = Duration::minutes(i64::from(settings.burst_window_minutes));
    let history = contact_keys::history(
        conn,
        mailbox,
        phone,
        now.naive_utc(),
        now.naive_utc() - window,
    )?;
    let limit = settings.max_active_per_contact;
    if limit > 0 && history.active.len() >= limit as usize {
        tracing::warn!(
            active = %history.active.join(","),
            limit,
            "booking refused: the patient holds too many active bookings"
        );
        crate::metrics::booking_over_cap();
        return Err(ApiError::TooManyActiveBookings { limit });
    }
    Ok(history)
}

/// Tells staff (a log line by reference, and a metric) when one mailbox
/// has made `booking.burst_bookings` bookings or more within
/// `booking.burst_window_minutes`: booking, cancelling and booking again is
/// how one patient's cap is got round, and how a script shows itself.
fn watch_for_burst(state: &AppState, reference: &str, made_in_window: usize) {
    let settings = &state.settings.booking;
    if settings.burst_bookings > 0 && made_in_window >= settings.burst_bookings as usize {
        tracing::warn!(
            %reference,
            bookings = made_in_window,
            window_minutes = settings.burst_window_minutes,
            by = "mailbox",
            "booking burst: one patient booked repeatedly"
        );
        crate::metrics::booking_in_burst("mailbox");
    }
}

/// Until when a patient's manage token (and what it was exchanged for)
/// opens a booking, as seen at `now`.
///
/// Rule: a manage token stops working `privacy.manage_token_days_after_visit`
/// days after the end of the visit (0: never); moving the booking moves the
/// date with it.
#[derive(Debug, Clone, Copy)]
pub struct TokenWindow {
    now: DateTime<Utc>,
    days_after_visit: u32,
}

impl TokenWindow {
    pub fn at(settings: &crate::configuration::Settings, now: DateTime<Utc>) -> TokenWindow {
        TokenWindow {
            now,
            days_after_visit: settings.privacy.manage_token_days_after_visit,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Whether the token of `row` no longer works.
    pub fn has_closed_for(&self, row: &BookingRow) -> bool {
        self.days_after_visit > 0
            && row.end_at + chrono::Duration::days(self.days_after_visit.into())
                < self.now.naive_utc()
    }
}

/// What a patient's proof (a manage token, or the manage page's cookie)
/// opens: the booking, or a booking whose token has stopped working.
pub enum PatientAccess {
    Open(Box<BookingRow>),
    Expired,
}

/// The booking `reference` when one of `tokens` is its manage token.
/// Anything wrong (unknown reference, no token that matches) is the same
/// 404 in the same time (every token-shaped one is hashed, also for an
/// unknown reference), so the answer never reveals that a reference
/// exists; only the holder of a right token learns that its time is over.
pub fn patient_access(
    conn: &mut DbConnection,
    reference: &str,
    window: TokenWindow,
    tokens: &[String],
) -> Result<PatientAccess, ApiError> {
    let reference = Reference::parse(reference).ok_or(ApiError::NotFound)?;
    if !tokens.iter().any(|token| is_token_shaped(token)) {
        return Err(ApiError::NotFound);
    }
    let row = bookings::find(conn, reference.as_str())?;
    let matched = any_token_matches(
        tokens,
        row.as_ref().map(|row| row.manage_token_hash.as_str()),
    );
    match row {
        Some(row) if matched && window.has_closed_for(&row) => Ok(PatientAccess::Expired),
        Some(row) if matched => Ok(PatientAccess::Open(Box::new(row))),
        _ => Err(ApiError::NotFound),
    }
}

/// The booking a patient's reference and manage token point at; a token
/// whose time is over is as wrong as any other (404).
pub fn find_with_token(
    conn: &mut DbConnection,
    reference: &str,
    token: Option<&str>,
    window: TokenWindow,
) -> Result<BookingRow, ApiError> {
    let tokens: Vec<String> = token.into_iter().map(str::to_string).collect();
    find_with_any_token(conn, reference, &tokens, window)
}

/// As `find_with_token`, for a request that presents several secrets (a
/// bearer header and `?token=`): any one of them that matches opens it.
///
/// A malformed reference, or no secret of a token's length, is refused
/// before any lookup (neither says anything about a booking). Otherwise an
/// unknown reference is checked like a known one (`any_token_matches`
/// hashes and compares either way), so the time taken does not tell them
/// apart.
pub fn find_with_any_token(
    conn: &mut DbConnection,
    reference: &str,
    tokens: &[String],
    window: TokenWindow,
) -> Result<BookingRow, ApiError> {
    match patient_access(conn, reference, window, tokens)? {
        PatientAccess::Open(row) => Ok(*row),
        PatientAccess::Expired => Err(ApiError::NotFound),
    }
}

fn has_started(row: &BookingRow, now: DateTime<Utc>) -> bool {
    row.start_at <= now.naive_utc()
}

/// Cancels a confirmed booking and frees its slots. Cancelling a cancelled
/// booking changes nothing and is not an error; a patient cannot cancel one
/// that has started or is finished. The patient and the clinic are mailed.
pub fn cancel_by_patient(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    match row.status() {
        BookingStatus::Cancelled => Ok(row),
        BookingStatus::Arrived | BookingStatus::Completed | BookingStatus::NoShow => {
            Err(ApiError::field("status", "invalid_status"))
        }
        BookingStatus::Confirmed if has_started(&row, now) => {
            Err(ApiError::field("start", "too_late"))
        }
        BookingStatus::Confirmed => {
            ensure_before_deadline(state, &row, now)?;
            cancel(conn, state, row, &Actor::Patient, now)
        }
    }
}

/// Moves a confirmed booking to `start`, claiming the new slots before the
/// old ones are given up for good (the move is one transaction).
pub fn reschedule(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    start: SlotStart,
    kind: &ConsultationType,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    if row.status() == BookingStatus::Confirmed {
        ensure_before_deadline(state, &row, now)?;
    }
    reschedule_as(conn, state, row, start, kind, None, &Actor::Patient, now)
}

/// A patient changes a booking themselves only before its type's change
/// deadline; after it they call the clinic (staff are not bound by it).
pub fn ensure_before_deadline(
    state: &AppState,
    row: &BookingRow,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let start = state.calendar.local(row.start_at);
    let kind = kind_of(state, row);
    if kind.patient_may_change(start, now) {
        return Ok(());
    }
    Err(ApiError::ChangeDeadlinePassed {
        deadline: kind.change_deadline(start),
        phone: state.settings.clinic.phone.clone(),
    })
}

/// Every reschedule, by patient or staff: the new slots are checked against
/// closures and claimed under the same capacity constraint. The booking
/// keeps its practitioner unless staff name another (`practitioner`).
#[allow(clippy::too_many_arguments)]
fn reschedule_as(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    start: SlotStart,
    kind: &ConsultationType,
    practitioner: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    if row.status() != BookingStatus::Confirmed {
        return Err(ApiError::field("status", "invalid_status"));
    }
    ensure_not_closed(conn, state, start.at(), kind)?;
    let slots = resources::seat_slots(state, kind, start.at());
    let end = state.calendar.end_of(start.at(), kind);
    bookings::reschedule(
        conn,
        &row.reference,
        start.at().naive_utc(),
        end.naive_utc(),
        &slots,
        state.calendar.capacity_per_slot(),
        now.naive_utc(),
    )?;
    let keep = practitioner
        .map(str::to_string)
        .or_else(|| resources::kept(state, kind, row.practitioner.as_deref()));
    let given = resources::claim_for(
        conn,
        state,
        Holder::Booking(&row.reference),
        kind,
        start.at(),
        keep.as_deref(),
    )?;
    crate::workflows::waitlist::seat_freed(conn, row.start_at, row.end_at, now)?;
    let mut detail = serde_json::json!({
        "from": rfc3339(state.calendar.local(row.start_at)),
        "to": rfc3339(start.at()),
    });
    if given.is_some() && given != row.practitioner {
        detail["practitioner"] = serde_json::json!({"from": row.practitioner, "to": given});
    }
    audit(
        conn,
        actor,
        "booking.rescheduled",
        &row.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %row.reference, "booking rescheduled");
    let moved = reload(conn, &row.reference)?;
    let previous = Some((row.start_at, row.end_at));
    enqueue_booking_mail(
        conn,
        state,
        &moved,
        BookingMail::Rescheduled { previous },
        now,
    )?;
    let before = Before {
        times: previous,
        practitioner: (moved.practitioner != row.practitioner)
            .then_some(row.practitioner.as_deref()),
        ..Before::default()
    };
    booking_event(conn, state, event::BOOKING_RESCHEDULED, &moved, before, now)?;
    Ok(moved)
}

/// Patient-side guard before a reschedule: the booking must not have started.
pub fn ensure_not_started(row: &BookingRow, now: DateTime<Utc>) -> Result<(), ApiError> {
    if row.status() == BookingStatus::Confirmed && has_started(row, now) {
        return Err(ApiError::field("start", "too_late"));
    }
    Ok(())
}

fn reload(conn: &mut DbConnection, reference: &str) -> Result<BookingRow, ApiError> {
    bookings::find(conn, reference)?.ok_or(ApiError::NotFound)
}

/// The consultation type a stored booking was made for (falling back to the
/// default when the clinic has since removed the type from its settings).
pub fn kind_of<'a>(state: &'a AppState, row: &BookingRow) -> &'a ConsultationType {
    state
        .calendar
        .consultation_type(&row.type_code)
        .unwrap_or_else(|| state.calendar.default_type())
}

/// Staff closures, checked in the transaction that claims the slots: a
/// closed date refuses a start like any closed day (`closed_day`); a closed
/// time range refuses it like a full slot.
fn ensure_not_closed(
    conn: &mut DbConnection,
    state: &AppState,
    start: DateTime<Tz>,
    kind: &ConsultationType,
) -> Result<(), ApiError> {
    let end = state.calendar.end_of(start, kind);
    let mut closures = crate::db::closures::overlapping(conn, start.naive_utc(), end.naive_utc())?;
    // A practitioner's or room's time off closes only them.
    closures.retain(|closure| closure.resource.is_none());
    if closures
        .iter()
        .any(|closure| closure.closed_date == Some(start.date_naive()))
    {
        return Err(ApiError::field("start", "closed_day"));
    }
    if !closures.is_empty() {
        return Err(ApiError::SlotUnavailable {
            alternatives: Vec::new(),
        });
    }
    Ok(())
}

/// Every cancellation, by patient or staff: frees the slots, records it and
/// tells the patient (with a calendar CANCEL) and the clinic.
fn cancel(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    bookings::cancel(conn, &row.reference, now.naive_utc())?;
    crate::workflows::waitlist::seat_freed(conn, row.start_at, row.end_at, now)?;
    let detail =
        serde_json::json!({"from": row.status.as_str(), "to": BookingStatus::Cancelled.as_str()});
    audit(
        conn,
        actor,
        "booking.cancelled",
        &row.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %row.reference, "booking cancelled");
    crate::metrics::booking_cancelled();
    let cancelled = reload(conn, &row.reference)?;
    enqueue_booking_mail(conn, state, &cancelled, BookingMail::Cancelled, now)?;
    let before = Before {
        status: Some(row.status.as_str()),
        ..Before::default()
    };
    booking_event(
        conn,
        state,
        event::BOOKING_CANCELLED,
        &cancelled,
        before,
        now,
    )?;
    Ok(cancelled)
}

/// What staff change on a booking in one request; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct StaffChange {
    pub status: Option<BookingStatus>,
    pub start: Option<SlotStart>,
    /// `Some(None)` clears the note.
    pub staff_note: Option<Option<String>>,
    /// Another practitioner of the booking's type (checked by
    /// `resources::named_practitioner`), for the same or the new start.
    pub practitioner: Option<String>,
}

/// Applies a staff change to the booking `reference`, all or nothing (the
/// caller's transaction). A cancelled booking asked to be `confirmed` (at
/// its own or a new `start`) claims its slots again.
pub fn change_by_staff(
    conn: &mut DbConnection,
    state: &AppState,
    reference: &str,
    change: StaffChange,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    let mut row = find_for_staff(conn, reference)?;
    // An erased booking stays as it is: no one to mail, nothing to note.
    if crate::workflows::privacy::is_erased(&row) {
        return Err(ApiError::field("status", "invalid_status"));
    }
    if change.status == Some(BookingStatus::Confirmed) && row.status() == BookingStatus::Cancelled {
        row = reconfirm_with(
            conn,
            state,
            row,
            change.start,
            change.practitioner.as_deref(),
            actor,
            now,
        )?;
    } else {
        if let Some(start) = change.start {
            let kind = kind_of(state, &row).clone();
            let practitioner = change.practitioner.as_deref();
            row = reschedule_as(conn, state, row, start, &kind, practitioner, actor, now)?;
        } else if let Some(practitioner) = change.practitioner.as_deref() {
            row = reassign(conn, state, row, practitioner, actor, now)?;
        }
        if let Some(status) = change.status {
            row = change_status_by_staff(conn, state, row, status, actor, now)?;
        }
    }
    if let Some(note) = change.staff_note {
        row = set_staff_note(conn, row, note.as_deref(), actor, now)?;
    }
    Ok(row)
}

/// The booking a staff member names (any valid reference spelling).
pub fn find_for_staff(conn: &mut DbConnection, reference: &str) -> Result<BookingRow, ApiError> {
    let reference = Reference::parse(reference).ok_or(ApiError::NotFound)?;
    bookings::find(conn, reference.as_str())?.ok_or(ApiError::NotFound)
}

/// Staff move a confirmed booking: the patient's rules except the minimum
/// notice (`start` was parsed with `Booker::Staff`).
pub fn reschedule_by_staff(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    start: SlotStart,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    let kind = kind_of(state, &row).clone();
    reschedule_as(conn, state, row, start, &kind, None, actor, now)
}

/// Staff give a booking to another practitioner of its type at the same
/// time: everything it holds is given up and claimed again with that
/// practitioner (the room may stay or change, the daily place is kept),
/// all in the caller's transaction, so a practitioner who is not free for
/// the whole duration and buffer leaves it as it was (`SlotUnavailable`).
/// A booking already theirs is unchanged. Only a booking still to be
/// seen (confirmed or arrived) can be reassigned.
///
/// The patient is not mailed at once: a change of doctor is the clinic's
/// to explain (by phone or at the desk). The manage page, the booking view
/// and the feeds show the new practitioner at once, and so will the
/// reminder, which is written when it is due. Webhook receivers get
/// `booking.practitioner_changed`.
pub fn reassign(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    practitioner: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    if row.practitioner.as_deref() == Some(practitioner) {
        return Ok(row);
    }
    if !matches!(
        row.status(),
        BookingStatus::Confirmed | BookingStatus::Arrived
    ) {
        return Err(ApiError::field("status", "invalid_status"));
    }
    let kind = kind_of(state, &row).clone();
    crate::db::resource_claims::release(conn, &row.reference)?;
    resources::claim_for(
        conn,
        state,
        Holder::Booking(&row.reference),
        &kind,
        state.calendar.local(row.start_at),
        Some(practitioner),
    )?;
    crate::db::staff_bookings::touch(conn, &row.reference, now.naive_utc())?;
    let detail = serde_json::json!({"from": row.practitioner, "to": practitioner});
    audit(
        conn,
        actor,
        "booking.practitioner_changed",
        &row.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %row.reference, "booking given to another practitioner");
    let changed = reload(conn, &row.reference)?;
    let before = Before {
        practitioner: Some(row.practitioner.as_deref()),
        ..Before::default()
    };
    booking_event(
        conn,
        state,
        event::BOOKING_PRACTITIONER_CHANGED,
        &changed,
        before,
        now,
    )?;
    Ok(changed)
}

/// The status changes staff may make: a confirmed booking may be cancelled,
/// marked arrived (受付済), completed or a no-show; confirmed, arrived,
/// completed and no-show may be corrected into one another; a cancelled
/// booking may only be confirmed again (see `reconfirm`), and only a
/// confirmed one cancelled (a patient who arrived is set back to confirmed
/// first). Asking for the current status changes nothing. Anything else is
/// `invalid_status`.
pub fn change_status_by_staff(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    to: BookingStatus,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    use BookingStatus::{Arrived, Cancelled, Completed, Confirmed, NoShow};
    let from = row.status();
    match (from, to) {
        _ if from == to => Ok(row),
        (Confirmed, Cancelled) => cancel_by_staff(conn, state, row, actor, now),
        (Cancelled, Confirmed) => reconfirm_with(conn, state, row, None, None, actor, now),
        (Confirmed | Arrived | Completed | NoShow, Confirmed | Arrived | Completed | NoShow) => {
            // The seats stay claimed: the time was the patient's either way.
            crate::db::staff_bookings::set_status(conn, &row.reference, to, now.naive_utc())?;
            let detail = serde_json::json!({"from": from.as_str(), "to": to.as_str()});
            audit(
                conn,
                actor,
                "booking.status_changed",
                &row.reference,
                Some(&detail),
                now,
            )?;
            tracing::info!(reference = %row.reference, status = to.as_str(), "booking status changed");
            let changed = reload(conn, &row.reference)?;
            let before = Before {
                status: Some(from.as_str()),
                ..Before::default()
            };
            booking_event(
                conn,
                state,
                event::BOOKING_STATUS_CHANGED,
                &changed,
                before,
                now,
            )?;
            Ok(changed)
        }
        _ => Err(ApiError::field("status", "invalid_status")),
    }
}

/// Staff cancel a booking: a confirmed one (started or not) is cancelled
/// and its slots freed, the same way as by its patient; cancelling again
/// changes nothing; a visit under way, that took place or was missed
/// cannot be.
pub fn cancel_by_staff(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    match row.status() {
        BookingStatus::Cancelled => Ok(row),
        BookingStatus::Confirmed => cancel(conn, state, row, actor, now),
        BookingStatus::Arrived | BookingStatus::Completed | BookingStatus::NoShow => {
            Err(ApiError::field("status", "invalid_status"))
        }
    }
}

/// Confirms a cancelled booking again, at its own time or at `start`: its
/// slots must be free (claimed under the capacity constraint, else
/// `SlotUnavailable`) and not closed.
pub fn reconfirm(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    start: Option<SlotStart>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    reconfirm_with(conn, state, row, start, None, actor, now)
}

/// `reconfirm`, with the practitioner staff name (else its own, if free).
fn reconfirm_with(
    conn: &mut DbConnection,
    state: &AppState,
    row: BookingRow,
    start: Option<SlotStart>,
    practitioner: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    if row.status() != BookingStatus::Cancelled {
        return Err(ApiError::field("status", "invalid_status"));
    }
    let kind = kind_of(state, &row).clone();
    let at = start
        .map(|start| start.at())
        .unwrap_or_else(|| state.calendar.local(row.start_at));
    ensure_not_closed(conn, state, at, &kind)?;
    let slots = resources::seat_slots(state, &kind, at);
    bookings::claim_slots(
        conn,
        &row.reference,
        &slots,
        state.calendar.capacity_per_slot(),
    )?;
    let keep = practitioner
        .map(str::to_string)
        .or_else(|| resources::kept(state, &kind, row.practitioner.as_deref()));
    resources::claim_for(
        conn,
        state,
        Holder::Booking(&row.reference),
        &kind,
        at,
        keep.as_deref(),
    )?;
    let end = state.calendar.end_of(at, &kind);
    crate::db::staff_bookings::set_times(conn, &row.reference, at.naive_utc(), end.naive_utc())?;
    crate::db::staff_bookings::set_status(
        conn,
        &row.reference,
        BookingStatus::Confirmed,
        now.naive_utc(),
    )?;
    let detail = serde_json::json!({
        "from": BookingStatus::Cancelled.as_str(),
        "to": BookingStatus::Confirmed.as_str(),
        "start": rfc3339(at),
    });
    audit(
        conn,
        actor,
        "booking.reconfirmed",
        &row.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %row.reference, "booking confirmed again");
    let confirmed = reload(conn, &row.reference)?;
    // A new confirmation (the manage token is not known any more: only its
    // hash is stored), with an event whose SEQUENCE supersedes the CANCEL.
    enqueue_booking_mail(
        conn,
        state,
        &confirmed,
        BookingMail::Confirmed {
            manage_token: None,
            questionnaire_pending: false,
        },
        now,
    )?;
    // Confirmed again is a status change; one confirmed at a new time or
    // with another practitioner also names the times or the practitioner
    // it had.
    let moved = (confirmed.start_at, confirmed.end_at) != (row.start_at, row.end_at);
    let before = Before {
        status: Some(BookingStatus::Cancelled.as_str()),
        times: moved.then_some((row.start_at, row.end_at)),
        practitioner: (confirmed.practitioner != row.practitioner)
            .then_some(row.practitioner.as_deref()),
    };
    booking_event(
        conn,
        state,
        event::BOOKING_STATUS_CHANGED,
        &confirmed,
        before,
        now,
    )?;
    Ok(confirmed)
}

/// Sets or clears the staff note (never sent to the patient; the audit
/// entry does not copy it, as it may hold health information).
pub fn set_staff_note(
    conn: &mut DbConnection,
    row: BookingRow,
    note: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    crate::db::staff_bookings::set_staff_note(conn, &row.reference, note, now.naive_utc())?;
    audit(
        conn,
        actor,
        "booking.staff_note_changed",
        &row.reference,
        None,
        now,
    )?;
    reload(conn, &row.reference)
}
