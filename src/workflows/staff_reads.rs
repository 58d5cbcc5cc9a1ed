//! What staff read of patients' data. The rule: every read is on the audit
//! log under the reader's label (a list as how many it showed, one booking
//! or inquiry on its own trail), whether it came through the JSON API or
//! the staff console.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::db::bookings::BookingRow;
use crate::db::inquiries::{self, InquiryFilter, InquiryRow};
use crate::db::staff_bookings::{self, BookingFilter};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::workflows::audit::{audit, Actor};
use crate::workflows::booking::find_for_staff;

/// A page of a list: its rows, and whether more follow.
pub struct Listed<T> {
    pub rows: Vec<T>,
    pub more: bool,
}

impl<T> Listed<T> {
    /// Cuts rows loaded with one to spare down to `limit`.
    fn of(mut rows: Vec<T>, limit: i64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        Listed { rows, more }
    }
}

fn record_list(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    count: usize,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    crate::db::audit::record(
        conn,
        now.naive_utc(),
        actor.name(),
        action,
        None,
        Some(&json!({ "count": count }).to_string()),
    )
}

/// Bookings by start as `filter` asks (its `limit` is the page size),
/// recorded as `bookings.listed`.
pub fn list_bookings(
    conn: &mut DbConnection,
    mut filter: BookingFilter,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Listed<BookingRow>, ApiError> {
    let limit = filter.limit;
    filter.limit = limit.saturating_add(1);
    let listed = Listed::of(staff_bookings::page(conn, &filter)?, limit);
    record_list(conn, actor, "bookings.listed", listed.rows.len(), now)?;
    Ok(listed)
}

/// One booking (any valid spelling of its reference), recorded on its
/// trail as `booking.viewed`.
pub fn view_booking(
    conn: &mut DbConnection,
    reference: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<BookingRow, ApiError> {
    let row = find_for_staff(conn, reference)?;
    audit(conn, actor, "booking.viewed", &row.reference, None, now)?;
    Ok(row)
}

/// Inquiries, newest first, as `filter` asks (its `limit` is the page
/// size), recorded as `inquiries.listed`.
pub fn list_inquiries(
    conn: &mut DbConnection,
    mut filter: InquiryFilter,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Listed<InquiryRow>, ApiError> {
    let limit = filter.limit;
    filter.limit = limit.saturating_add(1);
    let listed = Listed::of(inquiries::page(conn, &filter)?, limit);
    record_list(conn, actor, "inquiries.listed", listed.rows.len(), now)?;
    Ok(listed)
}

/// One inquiry, recorded on its trail as `inquiry.viewed`.
pub fn view_inquiry(
    conn: &mut DbConnection,
    reference: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<InquiryRow, ApiError> {
    let row = crate::workflows::inquiries::find_for_staff(conn, reference)?;
    audit(conn, actor, "inquiry.viewed", &row.reference, None, now)?;
    Ok(row)
}

/// The confirmed bookings inside each of `closures` (to call those
/// patients), recorded as `bookings.listed` when there are any.
pub fn bookings_inside_closures(
    conn: &mut DbConnection,
    closures: &[crate::db::closures::ClosureRow],
    slot_minutes: u32,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Vec<BookingRow>>, ApiError> {
    let inside = closures
        .iter()
        .map(|closure| staff_bookings::confirmed_inside(conn, closure, slot_minutes))
        .collect::<Result<Vec<_>, _>>()?;
    let count: usize = inside.iter().map(Vec::len).sum();
    if count > 0 {
        record_list(conn, actor, "bookings.listed", count, now)?;
    }
    Ok(inside)
}
