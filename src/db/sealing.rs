//! Stored values sealed with the server key (`crate::server_key`): the
//! remembered answers to `Idempotency-Key` requests and the text of mail
//! waiting in the outbox. Versions before sealing stored both in clear, a
//! new booking's manage link included; `seal_plain_rows` seals what they
//! left at the first start after the upgrade.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::schema::{idempotency_keys, outbox_contents};
use super::DbConnection;
use crate::error::ApiError;
use crate::server_key::{Purpose, ServerKey, SEALED_PREFIX};

/// How many rows of each kind were sealed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    pub stored_answers: usize,
    pub messages: usize,
}

/// `LIKE` pattern of any sealed value.
fn sealed_pattern() -> String {
    format!("{SEALED_PREFIX}%")
}

/// Seals every stored answer and pending message still in clear, in the
/// caller's transaction. On SQLite the replaced text is overwritten in the
/// file as well (`secure_delete`), not only unlinked from the tree.
pub fn seal_plain_rows(conn: &mut DbConnection, key: &ServerKey) -> Result<Sealed, ApiError> {
    let answers: Vec<(String, String, String)> = idempotency_keys::table
        .filter(idempotency_keys::response_body.not_like(sealed_pattern()))
        .select((
            idempotency_keys::scope,
            idempotency_keys::idempotency_key,
            idempotency_keys::response_body,
        ))
        .load(conn)?;
    let messages: Vec<(i64, String, Option<String>)> = outbox_contents::table
        .filter(outbox_contents::body.not_like(sealed_pattern()))
        .select((
            outbox_contents::outbox_id,
            outbox_contents::body,
            outbox_contents::ics,
        ))
        .load(conn)?;
    if answers.is_empty() && messages.is_empty() {
        return Ok(Sealed::default());
    }
    let sqlite = matches!(conn, DbConnection::Sqlite(_));
    if sqlite {
        conn.batch_execute("PRAGMA secure_delete = ON")?;
    }
    for (scope, idempotency_key, body) in &answers {
        diesel::update(
            idempotency_keys::table
                .find((scope, idempotency_key))
                .filter(idempotency_keys::response_body.eq(body)),
        )
        .set(idempotency_keys::response_body.eq(key.seal(Purpose::StoredAnswer, body)?))
        .execute(conn)?;
    }
    for (id, body, ics) in &messages {
        let ics = match ics {
            Some(ics) => Some(key.seal(Purpose::MailCalendar, ics)?),
            None => None,
        };
        diesel::update(
            outbox_contents::table
                .find(id)
                .filter(outbox_contents::body.eq(body)),
        )
        .set((
            outbox_contents::body.eq(key.seal(Purpose::MailBody, body)?),
            outbox_contents::ics.eq(ics),
        ))
        .execute(conn)?;
    }
    if sqlite {
        conn.batch_execute("PRAGMA secure_delete = OFF")?;
    }
    Ok(Sealed {
        stored_answers: answers.len(),
        messages: messages.len(),
    })
}

/// Whether anything stored was sealed with a key other than `key` (a lost
/// or replaced key file, or instances configured with different keys).
pub fn sealed_with_another_key(conn: &mut DbConnection, key: &ServerKey) -> Result<bool, ApiError> {
    let ours = format!("{SEALED_PREFIX}{}.%", key.id());
    let answer: Option<String> = idempotency_keys::table
        .filter(idempotency_keys::response_body.like(sealed_pattern()))
        .filter(idempotency_keys::response_body.not_like(&ours))
        .select(idempotency_keys::scope)
        .first(conn)
        .optional()?;
    let message: Option<i64> = outbox_contents::table
        .filter(outbox_contents::body.like(sealed_pattern()))
        .filter(outbox_contents::body.not_like(&ours))
        .select(outbox_contents::outbox_id)
        .first(conn)
        .optional()?;
    Ok(answer.is_some() || message.is_some())
}
