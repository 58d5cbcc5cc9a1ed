//! Staff tokens: a label per receptionist or device, and the SHA-256 of the
//! token (the token itself is shown once and never stored).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::staff_tokens;
use super::{is_unique_violation, DbConnection};
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_tokens)]
pub struct StaffTokenRow {
    pub label: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

/// Stores a token; `Ok(false)` when the label is already taken.
pub fn insert(conn: &mut DbConnection, row: &StaffTokenRow) -> Result<bool, ApiError> {
    let inserted = super::recoverable(conn, |conn| {
        diesel::insert_into(staff_tokens::table)
            .values(row)
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<StaffTokenRow>, ApiError> {
    Ok(staff_tokens::table
        .order(staff_tokens::label)
        .select(StaffTokenRow::as_select())
        .load(conn)?)
}

pub fn find_by_hash(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<StaffTokenRow>, ApiError> {
    Ok(staff_tokens::table
        .filter(staff_tokens::token_hash.eq(token_hash))
        .select(StaffTokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Deletes the token of `label`; whether there was one.
pub fn delete(conn: &mut DbConnection, label: &str) -> Result<bool, ApiError> {
    let deleted =
        diesel::delete(staff_tokens::table.filter(staff_tokens::label.eq(label))).execute(conn)?;
    Ok(deleted > 0)
}

pub fn touch(conn: &mut DbConnection, label: &str, now: NaiveDateTime) -> Result<(), ApiError> {
    diesel::update(staff_tokens::table.filter(staff_tokens::label.eq(label)))
        .set(staff_tokens::last_used_at.eq(Some(now)))
        .execute(conn)?;
    Ok(())
}
