//! Closures staff put in the calendar: closing a date or hours, for the
//! whole clinic or as one practitioner's or room's time off (and naming
//! the confirmed bookings inside, which stay booked, so staff can call
//! those patients), and opening them again. Availability and new bookings
//! respect a closure from its commit on.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::db::bookings::BookingRow;
use crate::db::closures::{self, ClosureRow, NewClosure};
use crate::db::{staff_bookings, DbConnection};
use crate::domain::ClosureRequest;
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::workflows::audit::{audit, Actor};

/// A closure just made, and the confirmed bookings it overlaps.
pub struct Closed {
    pub closure: ClosureRow,
    pub affected: Vec<BookingRow>,
}

/// Stores the closure `request`; each confirmed booking inside it is noted
/// on its own audit trail (`booking.inside_closure`), the closure on the
/// log (`closure.created`).
pub fn close(
    conn: &mut DbConnection,
    request: &ClosureRequest,
    slot_minutes: u32,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Closed, ApiError> {
    let (start, end) = (request.start.naive_utc(), request.end.naive_utc());
    let closure = closures::insert(
        conn,
        &NewClosure {
            closed_date: request.date,
            start_at: start,
            end_at: end,
            reason: &request.reason,
            created_by: actor.name(),
            created_at: now.naive_utc(),
            resource: request.resource.as_deref(),
        },
    )?;
    let affected = staff_bookings::confirmed_inside(conn, &closure, slot_minutes)?;
    let detail = json!({
        "id": closure.id,
        "start": rfc3339(request.start),
        "end": rfc3339(request.end),
        "resource": request.resource,
        "affected_bookings": affected.len(),
    });
    crate::db::audit::record(
        conn,
        now.naive_utc(),
        actor.name(),
        "closure.created",
        None,
        Some(&detail.to_string()),
    )?;
    for booking in &affected {
        audit(
            conn,
            actor,
            "booking.inside_closure",
            &booking.reference,
            Some(&json!({"closure": closure.id})),
            now,
        )?;
    }
    tracing::info!(closure = closure.id, "closure created");
    Ok(Closed { closure, affected })
}

/// Deletes the closure `id` (`NotFound` when there is none): its time is
/// bookable again.
pub fn reopen(
    conn: &mut DbConnection,
    id: i32,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let Some(closure) = closures::find(conn, id)? else {
        return Err(ApiError::NotFound);
    };
    if !closures::delete(conn, id)? {
        return Err(ApiError::NotFound);
    }
    crate::workflows::waitlist::seat_freed(conn, closure.start_at, closure.end_at, now)?;
    crate::db::audit::record(
        conn,
        now.naive_utc(),
        actor.name(),
        "closure.deleted",
        None,
        Some(&json!({"id": id}).to_string()),
    )?;
    tracing::info!(closure = id, "closure deleted");
    Ok(())
}
