//! The inquiry workflow: store an inquiry and queue its acknowledgement and
//! the clinic's copy, in one transaction (the JSON API and the HTML form
//! both call this); and what staff change on an inquiry.

use chrono::{DateTime, Utc};

use crate::db::inquiries::{self, InquiryRow};
use crate::db::DbConnection;
use crate::domain::{InquiryStatus, NewInquiry, Reference};
use crate::error::ApiError;
use crate::state::AppState;
use crate::workflows::booking::{audit, Actor};
use crate::workflows::outbox::enqueue_inquiry_mail;

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
    crate::workflows::webhooks::inquiry_created(conn, state, &row, now)?;
    tracing::info!(reference = %row.reference, "inquiry received");
    Ok(row)
}

/// The inquiry a staff member names (any valid reference spelling).
pub fn find_for_staff(conn: &mut DbConnection, reference: &str) -> Result<InquiryRow, ApiError> {
    let reference = Reference::parse(reference).ok_or(ApiError::NotFound)?;
    inquiries::find(conn, reference.as_str())?.ok_or(ApiError::NotFound)
}

/// What staff change on an inquiry in one request; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct InquiryChange {
    pub status: Option<InquiryStatus>,
    /// `Some(None)` clears the note.
    pub staff_note: Option<Option<String>>,
}

/// Applies a staff change to the inquiry `reference`, all or nothing (the
/// caller's transaction), each part on the audit log. Any status may follow
/// any other; asking for the current one changes nothing. The note is not
/// copied into the audit entry: it may hold health information.
pub fn change_by_staff(
    conn: &mut DbConnection,
    reference: &str,
    change: InquiryChange,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<InquiryRow, ApiError> {
    let row = find_for_staff(conn, reference)?;
    if let Some(to) = change.status.filter(|to| to.as_str() != row.status) {
        inquiries::set_status(conn, &row.reference, to, now.naive_utc())?;
        let detail = serde_json::json!({"from": row.status, "to": to.as_str()});
        audit(
            conn,
            actor,
            "inquiry.status_changed",
            &row.reference,
            Some(&detail),
            now,
        )?;
        tracing::info!(reference = %row.reference, status = to.as_str(), "inquiry status changed");
    }
    if let Some(note) = change.staff_note {
        inquiries::set_staff_note(conn, &row.reference, note.as_deref(), now.naive_utc())?;
        audit(
            conn,
            actor,
            "inquiry.staff_note_changed",
            &row.reference,
            None,
            now,
        )?;
    }
    find_for_staff(conn, &row.reference)
}
