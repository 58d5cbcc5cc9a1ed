//! The booking workflows (book, cancel, reschedule), each one transaction
//! that checks the clinic's rules and stores the change. The JSON API and
//! the HTML forms both call these.

use actix_web::web;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::availability::{self, Occupancy};
use crate::db::bookings::{self, BookingRow};
use crate::db::DbConnection;
use crate::domain::{token_matches, BookingStatus, ManageToken, NewBooking, Reference, SlotStart};
use crate::error::{ApiError, SlotOffer};
use crate::mail::outbox::{enqueue_booking_mail, BookingMail};
use crate::schedule::ConsultationType;
use crate::startup::AppState;

/// A stored booking and the manage token its patient was given (shown once).
pub struct Booked {
    pub row: BookingRow,
    pub manage_token: ManageToken,
}

/// Stores `booking`, claiming every slot it covers; `SlotUnavailable` when
/// one is full.
pub fn book(
    conn: &mut DbConnection,
    state: &AppState,
    booking: &NewBooking,
    now: DateTime<Utc>,
) -> Result<Booked, ApiError> {
    let manage_token = ManageToken::generate();
    let slots = state
        .calendar
        .covered_slots(booking.start.at(), &booking.kind);
    let row = bookings::insert(
        conn,
        booking,
        &slots,
        state.calendar.capacity_per_slot(),
        manage_token.hash(),
        &state.settings.privacy.notice_version,
        now.naive_utc(),
    )?;
    enqueue_booking_mail(
        conn,
        state,
        &row,
        BookingMail::Confirmed {
            manage_token: Some(manage_token.expose()),
        },
        now,
    )?;
    tracing::info!(reference = %row.reference, "booking confirmed");
    Ok(Booked { row, manage_token })
}

/// The booking a patient's reference and manage token point at. Anything
/// wrong (unknown reference, missing or wrong token) is the same 404, so the
/// answer never reveals that a reference exists.
pub fn find_with_token(
    conn: &mut DbConnection,
    reference: &str,
    token: Option<&str>,
) -> Result<BookingRow, ApiError> {
    let reference = Reference::parse(reference).ok_or(ApiError::NotFound)?;
    let token = token.ok_or(ApiError::NotFound)?;
    let row = bookings::find(conn, reference.as_str())?.ok_or(ApiError::NotFound)?;
    if token_matches(token, &row.manage_token_hash) {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
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
        BookingStatus::Completed | BookingStatus::NoShow => {
            Err(ApiError::field("status", "invalid_status"))
        }
        BookingStatus::Confirmed if has_started(&row, now) => {
            Err(ApiError::field("start", "too_late"))
        }
        BookingStatus::Confirmed => {
            bookings::cancel(conn, &row.reference, now.naive_utc())?;
            tracing::info!(reference = %row.reference, "booking cancelled");
            let cancelled = reload(conn, &row.reference)?;
            enqueue_booking_mail(conn, state, &cancelled, BookingMail::Cancelled, now)?;
            Ok(cancelled)
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
    if row.status() != BookingStatus::Confirmed {
        return Err(ApiError::field("status", "invalid_status"));
    }
    let slots = state.calendar.covered_slots(start.at(), kind);
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

/// Seats taken in every slot of the clinic dates `from..=to`.
pub async fn occupancy(
    state: &web::Data<AppState>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<Occupancy, ApiError> {
    let (start, end): (NaiveDateTime, NaiveDateTime) =
        availability::utc_range(&state.calendar, from, to);
    let rows = state
        .db
        .read(move |conn| bookings::seats_taken(conn, start, end))
        .await?;
    Ok(rows.into_iter().collect())
}

/// The three free starts nearest to a full one, to offer at once.
pub async fn alternatives(
    state: &web::Data<AppState>,
    kind: &ConsultationType,
    around: DateTime<Tz>,
    now: DateTime<Utc>,
) -> Result<Vec<SlotOffer>, ApiError> {
    let (from, to) = availability::search_window(&state.calendar, around, now);
    let occupancy = occupancy(state, from, to).await?;
    Ok(availability::nearest_free(
        &state.calendar,
        kind,
        around,
        &occupancy,
        now,
        3,
    ))
}

/// Fills in the alternatives of a `SlotUnavailable` error.
pub async fn with_alternatives(
    state: &web::Data<AppState>,
    error: ApiError,
    kind: &ConsultationType,
    around: DateTime<Tz>,
    now: DateTime<Utc>,
) -> ApiError {
    match error {
        ApiError::SlotUnavailable { .. } => match alternatives(state, kind, around, now).await {
            Ok(alternatives) => ApiError::SlotUnavailable { alternatives },
            Err(error) => error,
        },
        other => other,
    }
}
