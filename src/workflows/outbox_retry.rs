//! Sending again a message that failed (`failed`): once staff have fixed
//! what was wrong (a typo in the address, a full mailbox, a mail server
//! that was down), the message goes back in the queue, due at once, with a
//! fresh retry window. The worker of any instance picks it up. The staff
//! API and the console both call this.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::db::outbox::{self, OutboxSummary, Requeued};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::workflows::audit::{audit, Actor};

/// Requeues the failed message `id`: `NotFound` when there is none, 409
/// `not_failed` when it is not `failed` (a message waiting or sent is
/// never sent twice this way). On the booking's or inquiry's audit trail.
pub fn requeue(
    conn: &mut DbConnection,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<OutboxSummary, ApiError> {
    let message = match outbox::requeue_failed(conn, id, now.naive_utc())? {
        Requeued::Done(message) => message,
        Requeued::NotFailed(_) => {
            return Err(ApiError::Conflict {
                field: "status",
                code: "not_failed",
            })
        }
        Requeued::Unknown => return Err(ApiError::NotFound),
    };
    let detail = json!({"outbox_id": id, "kind": message.kind});
    audit(
        conn,
        actor,
        "outbox.retried",
        &message.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %message.reference, outbox_id = id, "failed mail queued again by staff");
    Ok(message)
}
