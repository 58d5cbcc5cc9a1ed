//! Responses remembered under a client's `Idempotency-Key`, so that a retried
//! request gets the first answer instead of creating a second record.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys;
use super::DbConnection;
use crate::error::ApiError;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys, treat_none_as_default_value = false)]
pub struct StoredResponse {
    pub scope: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub status_code: i32,
    pub response_body: String,
    pub location: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn find(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
) -> Result<Option<StoredResponse>, ApiError> {
    Ok(idempotency_keys::table
        .find((scope, key))
        .select(StoredResponse::as_select())
        .get_result(conn)
        .optional()?)
}

/// Remembers a response. A unique violation here means another request with
/// the same key won the race; the caller rolls back and answers with that
/// request's response.
pub fn remember(
    conn: &mut DbConnection,
    response: &StoredResponse,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(idempotency_keys::table)
        .values(response)
        .execute(conn)?;
    Ok(())
}
