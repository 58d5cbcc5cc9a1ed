//! The audit log: who changed what, written in the transaction of the change.

use chrono::{DateTime, Utc};

use crate::db::DbConnection;
use crate::error::ApiError;

/// Who changed a booking, as the audit log names them: `patient`, or the
/// label of the staff token used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Patient,
    Staff(String),
}

impl Actor {
    pub fn name(&self) -> &str {
        match self {
            Actor::Patient => "patient",
            Actor::Staff(label) => label,
        }
    }
}

/// Records a change in the audit log (in the caller's transaction, so the
/// entry exists exactly when the change does). `detail` must hold no
/// personal data.
pub fn audit(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    reference: &str,
    detail: Option<&serde_json::Value>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let detail = detail.map(serde_json::Value::to_string);
    crate::db::audit::record(
        conn,
        now.naive_utc(),
        actor.name(),
        action,
        Some(reference),
        detail.as_deref(),
    )
}
