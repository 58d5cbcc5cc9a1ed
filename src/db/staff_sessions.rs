//! Staff console sessions: the SHA-256 of each signed-in browser's cookie,
//! the staff token it was opened with (by hash), when it was last used, and
//! the one-time message for its next page.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{staff_sessions, staff_tokens};
use super::DbConnection;
use crate::error::ApiError;

/// A session whose token is still live.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The label of the staff token: who acts, in the audit log.
    pub label: String,
    pub last_seen_at: NaiveDateTime,
    pub flash: Option<String>,
}

pub fn insert(
    conn: &mut DbConnection,
    session_hash: &str,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::insert_into(staff_sessions::table)
        .values((
            staff_sessions::session_hash.eq(session_hash),
            staff_sessions::token_hash.eq(token_hash),
            staff_sessions::created_at.eq(now),
            staff_sessions::last_seen_at.eq(now),
            staff_sessions::flash.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session `session_hash`, if its staff token still exists (a revoked
/// token's sessions are found no more, whatever is left of them).
pub fn find_live(
    conn: &mut DbConnection,
    session_hash: &str,
) -> Result<Option<LiveSession>, ApiError> {
    let found: Option<(String, NaiveDateTime, Option<String>)> = staff_sessions::table
        .inner_join(staff_tokens::table.on(staff_tokens::token_hash.eq(staff_sessions::token_hash)))
        .filter(staff_sessions::session_hash.eq(session_hash))
        .select((
            staff_tokens::label,
            staff_sessions::last_seen_at,
            staff_sessions::flash,
        ))
        .first(conn)
        .optional()?;
    Ok(found.map(|(label, last_seen_at, flash)| LiveSession {
        label,
        last_seen_at,
        flash,
    }))
}

pub fn touch(
    conn: &mut DbConnection,
    session_hash: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    diesel::update(staff_sessions::table.find(session_hash))
        .set(staff_sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Sets (or with `None` clears) the message for the session's next page.
pub fn set_flash(
    conn: &mut DbConnection,
    session_hash: &str,
    flash: Option<&str>,
) -> Result<(), ApiError> {
    diesel::update(staff_sessions::table.find(session_hash))
        .set(staff_sessions::flash.eq(flash))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, session_hash: &str) -> Result<(), ApiError> {
    diesel::delete(staff_sessions::table.find(session_hash)).execute(conn)?;
    Ok(())
}

/// Ends every session opened with the token labelled `label` (before the
/// token itself is deleted).
pub fn delete_for_label(conn: &mut DbConnection, label: &str) -> Result<usize, ApiError> {
    let hashes = staff_tokens::table
        .filter(staff_tokens::label.eq(label))
        .select(staff_tokens::token_hash);
    Ok(
        diesel::delete(staff_sessions::table.filter(staff_sessions::token_hash.eq_any(hashes)))
            .execute(conn)?,
    )
}

/// Forgets sessions idle since before `cutoff`, and those whose token is
/// gone.
pub fn delete_stale(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<usize, ApiError> {
    let idle =
        diesel::delete(staff_sessions::table.filter(staff_sessions::last_seen_at.lt(cutoff)))
            .execute(conn)?;
    let live_tokens = staff_tokens::table.select(staff_tokens::token_hash);
    let orphaned = diesel::delete(
        staff_sessions::table.filter(staff_sessions::token_hash.ne_all(live_tokens)),
    )
    .execute(conn)?;
    Ok(idle + orphaned)
}
