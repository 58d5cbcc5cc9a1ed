//! Bookings by start time, counted and paged by offset: what the FHIR
//! Appointment search reads (its Bundles give a `total`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::bookings::BookingRow;
use super::schema::bookings;
use super::DbConnection;
use crate::error::ApiError;

/// Bookings that start in `[from, to)` (either end open when `None`).
macro_rules! starting {
    ($from:expr, $to:expr) => {{
        let mut query = bookings::table.into_boxed();
        if let Some(from) = $from {
            query = query.filter(bookings::start_at.ge(from));
        }
        if let Some(to) = $to {
            query = query.filter(bookings::start_at.lt(to));
        }
        query
    }};
}

pub fn count_starting(
    conn: &mut DbConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
) -> Result<i64, ApiError> {
    Ok(starting!(from, to).count().get_result(conn)?)
}

/// One page of them, by start then reference.
pub fn page_starting(
    conn: &mut DbConnection,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
    offset: i64,
    limit: i64,
) -> Result<Vec<BookingRow>, ApiError> {
    Ok(starting!(from, to)
        .order((bookings::start_at, bookings::reference))
        .select(BookingRow::as_select())
        .offset(offset)
        .limit(limit)
        .load(conn)?)
}
