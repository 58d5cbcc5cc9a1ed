//! What staff read and change on bookings beyond the patient's view: lists
//! by time, the status history, status changes and the staff note.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::bookings::BookingRow;
use super::schema::booking_status_times as times;
use super::schema::bookings;
use super::DbConnection;
use crate::domain::BookingStatus;
use crate::error::ApiError;

/// When a booking last became confirmed (again), arrived, completed or a
/// no-show.
#[derive(Debug, Clone, Default, Queryable, Selectable)]
#[diesel(table_name = times::bookings)]
pub struct StatusTimes {
    pub reference: String,
    pub confirmed_at: Option<NaiveDateTime>,
    pub arrived_at: Option<NaiveDateTime>,
    pub completed_at: Option<NaiveDateTime>,
    pub no_show_at: Option<NaiveDateTime>,
}

/// Which bookings a list asks for: starts in `[from, to)`, with one of
/// `statuses` (any when empty), after the cursor `(start_at, reference)`.
pub struct BookingFilter {
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub statuses: Vec<BookingStatus>,
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}

/// One page of bookings, by start then reference (a stable order, so a
/// cursor never skips or repeats a booking).
pub fn page(conn: &mut DbConnection, filter: &BookingFilter) -> Result<Vec<BookingRow>, ApiError> {
    let mut query = bookings::table
        .order((bookings::start_at, bookings::reference))
        .select(BookingRow::as_select())
        .limit(filter.limit)
        .into_boxed();
    if let Some(from) = filter.from {
        query = query.filter(bookings::start_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(bookings::start_at.lt(to));
    }
    if !filter.statuses.is_empty() {
        let statuses: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        query = query.filter(bookings::status.eq_any(statuses));
    }
    if let Some((start, reference)) = &filter.after {
        query = query.filter(
            bookings::start_at.gt(*start).or(bookings::start_at
                .eq(*start)
                .and(bookings::reference.gt(reference.clone()))),
        );
    }
    Ok(query.load(conn)?)
}

/// The status times of `references`, by reference.
pub fn status_times(
    conn: &mut DbConnection,
    references: &[String],
) -> Result<HashMap<String, StatusTimes>, ApiError> {
    let rows: Vec<StatusTimes> = times::bookings::table
        .filter(times::bookings::reference.eq_any(references))
        .select(StatusTimes::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| (row.reference.clone(), row))
        .collect())
}

/// Records a new status and when it was reached. Slots are not touched:
/// the caller frees or claims them.
pub fn set_status(
    conn: &mut DbConnection,
    reference: &str,
    status: BookingStatus,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(bookings::table.find(reference))
        .set((
            bookings::status.eq(status.as_str()),
            bookings::sequence.eq(bookings::sequence + 1),
            bookings::updated_at.eq(now),
        ))
        .execute(conn)?;
    let target = times::bookings::table.find(reference);
    match status {
        BookingStatus::Confirmed => diesel::update(target)
            .set(times::bookings::confirmed_at.eq(Some(now)))
            .execute(conn)?,
        BookingStatus::Arrived => diesel::update(target)
            .set(times::bookings::arrived_at.eq(Some(now)))
            .execute(conn)?,
        BookingStatus::Completed => diesel::update(target)
            .set(times::bookings::completed_at.eq(Some(now)))
            .execute(conn)?,
        BookingStatus::NoShow => diesel::update(target)
            .set(times::bookings::no_show_at.eq(Some(now)))
            .execute(conn)?,
        BookingStatus::Cancelled => diesel::update(bookings::table.find(reference))
            .set(bookings::cancelled_at.eq(Some(now)))
            .execute(conn)?,
    };
    Ok(())
}

/// Moves a booking's times without claiming anything (the caller claims).
pub fn set_times(
    conn: &mut DbConnection,
    reference: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(bookings::table.find(reference))
        .set((bookings::start_at.eq(start), bookings::end_at.eq(end)))
        .execute(conn)?;
    Ok(())
}

/// Marks a booking changed at `now` (its practitioner was changed).
pub fn touch(conn: &mut DbConnection, reference: &str, now: NaiveDateTime) -> Result<(), ApiError> {
    diesel::update(bookings::table.find(reference))
        .set(bookings::updated_at.eq(now))
        .execute(conn)?;
    Ok(())
}

pub fn set_staff_note(
    conn: &mut DbConnection,
    reference: &str,
    note: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(bookings::table.find(reference))
        .set((bookings::staff_note.eq(note), bookings::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// The confirmed bookings a closure touches: for the clinic, every one
/// overlapping it; for a practitioner's or room's time off, those holding
/// that resource then (its buffer included).
pub fn confirmed_inside(
    conn: &mut DbConnection,
    closure: &super::closures::ClosureRow,
    slot_minutes: u32,
) -> Result<Vec<BookingRow>, ApiError> {
    let Some(code) = closure.resource.as_deref() else {
        return confirmed_overlapping(conn, closure.start_at, closure.end_at);
    };
    use super::schema::resource_claims;
    // A claim holds one grid slot from its start.
    let step = chrono::Duration::minutes(i64::from(slot_minutes));
    let holders = resource_claims::table
        .filter(resource_claims::resource_code.eq(code))
        .filter(resource_claims::slot_start.lt(closure.end_at))
        .filter(resource_claims::slot_start.gt(closure.start_at - step))
        .select(resource_claims::booking_reference);
    let rows: Vec<BookingRow> = bookings::table
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .filter(bookings::reference.nullable().eq_any(holders))
        .order((bookings::start_at, bookings::reference))
        .select(BookingRow::as_select())
        .load(conn)?;
    Ok(rows)
}

/// Confirmed bookings holding a seat in any slot starting in `[from, to)`.
pub fn confirmed_overlapping(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<BookingRow>, ApiError> {
    Ok(bookings::table
        .filter(bookings::status.eq(BookingStatus::Confirmed.as_str()))
        .filter(bookings::start_at.lt(to))
        .filter(bookings::end_at.gt(from))
        .order((bookings::start_at, bookings::reference))
        .select(BookingRow::as_select())
        .load(conn)?)
}
