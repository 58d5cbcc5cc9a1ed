//! The audit trail: who (a staff token's label, or `patient`) did what to
//! which booking, and when. Details never carry personal data.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_log;
use super::DbConnection;
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i32,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub reference: Option<String>,
    pub detail: Option<String>,
}

pub fn record(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    actor: &str,
    action: &str,
    reference: Option<&str>,
    detail: Option<&str>,
) -> Result<(), ApiError> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::at.eq(at),
            audit_log::actor.eq(actor),
            audit_log::action.eq(action),
            audit_log::reference.eq(reference),
            audit_log::detail.eq(detail),
        ))
        .execute(conn)?;
    Ok(())
}

/// The entries about one booking, oldest first.
pub fn for_reference(conn: &mut DbConnection, reference: &str) -> Result<Vec<AuditRow>, ApiError> {
    Ok(audit_log::table
        .filter(audit_log::reference.eq(reference))
        .order(audit_log::id.asc())
        .select(AuditRow::as_select())
        .load(conn)?)
}

/// Up to `limit` entries, newest first, older than the entry `before` (an id).
pub fn page(
    conn: &mut DbConnection,
    before: Option<i32>,
    limit: i64,
) -> Result<Vec<AuditRow>, ApiError> {
    let mut query = audit_log::table
        .order(audit_log::id.desc())
        .select(AuditRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(audit_log::id.lt(before));
    }
    Ok(query.load(conn)?)
}
