//! Sending again a message the mail server refused for good (`failed`):
//! once staff have fixed what was wrong (a typo in the address, a full
//! mailbox), the message goes back in the queue, due at once, with a fresh
//! count of attempts. The worker of any instance picks it up.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::db::outbox::{self, OutboxSummary};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::workflows::audit::{audit, Actor};

/// Requeues the failed message `id`: `NotFound` when there is none, 422
/// `invalid_status` when it is not `failed` (a message waiting or sent is
/// never sent twice this way). On the booking's or inquiry's audit trail.
pub fn requeue(
    conn: &mut DbConnection,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<OutboxSummary, ApiError> {
    let message = outbox::find_summary(conn, id)?.ok_or(ApiError::NotFound)?;
    if !outbox::requeue_failed(conn, id, now.naive_utc())? {
        return Err(ApiError::field("status", "invalid_status"));
    }
    let detail = json!({"id": id, "kind": message.kind});
    audit(
        conn,
        actor,
        "outbox.requeued",
        &message.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %message.reference, id, "failed message requeued");
    outbox::find_summary(conn, id)?.ok_or(ApiError::NotFound)
}
