//! Closures staff put in the calendar: a whole date or a time range.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::closures;
use super::DbConnection;
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = closures)]
pub struct ClosureRow {
    pub id: i32,
    pub closed_date: Option<NaiveDate>,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub reason: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    /// The practitioner or room it is the time off of (`None`: the clinic).
    pub resource: Option<String>,
}

impl ClosureRow {
    /// The closure as the schedule applies it.
    pub fn as_closure(&self) -> crate::schedule::closures::Closure {
        crate::schedule::closures::Closure {
            closed_date: self.closed_date,
            start_at: self.start_at,
            end_at: self.end_at,
        }
    }
}

pub struct NewClosure<'a> {
    pub closed_date: Option<NaiveDate>,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub reason: &'a str,
    pub created_by: &'a str,
    pub created_at: NaiveDateTime,
    pub resource: Option<&'a str>,
}

pub fn insert(conn: &mut DbConnection, closure: &NewClosure) -> Result<ClosureRow, ApiError> {
    let id: i32 = diesel::insert_into(closures::table)
        .values((
            closures::closed_date.eq(closure.closed_date),
            closures::start_at.eq(closure.start_at),
            closures::end_at.eq(closure.end_at),
            closures::reason.eq(closure.reason),
            closures::created_by.eq(closure.created_by),
            closures::created_at.eq(closure.created_at),
            closures::resource.eq(closure.resource),
        ))
        .returning(closures::id)
        .get_result(conn)?;
    super::schedule_versions::changed(closure.start_at, closure.end_at);
    find(conn, id)?.ok_or(ApiError::NotFound)
}

pub fn find(conn: &mut DbConnection, id: i32) -> Result<Option<ClosureRow>, ApiError> {
    Ok(closures::table
        .find(id)
        .select(ClosureRow::as_select())
        .get_result(conn)
        .optional()?)
}

pub fn delete(conn: &mut DbConnection, id: i32) -> Result<bool, ApiError> {
    let deleted: Option<(NaiveDateTime, NaiveDateTime)> = diesel::delete(closures::table.find(id))
        .returning((closures::start_at, closures::end_at))
        .get_result(conn)
        .optional()?;
    if let Some((start, end)) = deleted {
        super::schedule_versions::changed(start, end);
    }
    Ok(deleted.is_some())
}

/// Every closure overlapping the instants `[from, to)`.
pub fn overlapping(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<ClosureRow>, ApiError> {
    Ok(closures::table
        .filter(closures::start_at.lt(to))
        .filter(closures::end_at.gt(from))
        .order((closures::start_at, closures::id))
        .select(ClosureRow::as_select())
        .load(conn)?)
}

/// Up to `limit` closures ending after `from`, by start, after the cursor
/// `(start_at, id)`.
pub fn page(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    after: Option<(NaiveDateTime, i32)>,
    limit: i64,
) -> Result<Vec<ClosureRow>, ApiError> {
    let mut query = closures::table
        .filter(closures::end_at.gt(from))
        .order((closures::start_at, closures::id))
        .select(ClosureRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some((start, id)) = after {
        query = query.filter(
            closures::start_at
                .gt(start)
                .or(closures::start_at.eq(start).and(closures::id.gt(id))),
        );
    }
    Ok(query.load(conn)?)
}
