//! The inquiry workflow: store an inquiry and queue its acknowledgement and
//! the clinic's copy, in one transaction. The JSON API and the HTML form
//! both call this.

use chrono::{DateTime, Utc};

use crate::db::inquiries::{self, InquiryRow};
use crate::db::DbConnection;
use crate::domain::NewInquiry;
use crate::error::ApiError;
use crate::mail::outbox::enqueue_inquiry_mail;
use crate::startup::AppState;

/// Stores `inquiry` as received, with the time and version of the consent
/// given, and queues its mails. Run it inside `state.db.write`.
pub fn submit(
    conn: &mut DbConnection,
    state: &AppState,
    inquiry: &NewInquiry,
    now: DateTime<Utc>,
) -> Result<InquiryRow, ApiError> {
    let row = inquiries::insert(
        conn,
        inquiry,
        &state.settings.privacy.notice_version,
        now.naive_utc(),
    )?;
    enqueue_inquiry_mail(conn, state, &row, now)?;
    tracing::info!(reference = %row.reference, "inquiry received");
    Ok(row)
}
