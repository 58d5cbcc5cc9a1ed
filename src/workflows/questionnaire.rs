//! The intake questionnaire of a booking: whether it is still to be
//! answered, the patient's answers (given with the booking, or later
//! through the manage link until the visit) and what staff read of them.
//!
//! Answers are health data: they go to staff views only, never into an
//! email, a webhook, the FHIR view or the calendar feed, and they are
//! deleted when the booking's personal data is erased or purged.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::db::bookings::BookingRow;
use crate::db::questionnaire_answers::{self, StoredAnswers};
use crate::db::DbConnection;
use crate::domain::questionnaire::{self, AnsweredQuestion, Answers, Questionnaire};
use crate::domain::BookingStatus;
use crate::error::ApiError;
use crate::state::AppState;
use crate::workflows::audit::{audit, Actor};
use crate::workflows::privacy::is_erased;

pub const PENDING: &str = "pending";
pub const ANSWERED: &str = "answered";

/// The questionnaire a booking of `type_code` asks now, if any.
pub fn asked_for(type_code: &str) -> Option<&'static Questionnaire> {
    questionnaire::current_for(type_code)
}

/// Whether a new booking of `type_code` made with `answers` still has its
/// questionnaire to answer (its confirmation then asks for it).
pub fn pending_after_booking(type_code: &str, answers: Option<&Answers>) -> bool {
    answers.is_none() && asked_for(type_code).is_some()
}

/// `pending` or `answered` for a booking whose type asks a questionnaire
/// (or that has answers); `None` for one that has none, or whose personal
/// data was erased.
pub fn status_of(row: &BookingRow, answered: bool) -> Option<&'static str> {
    if is_erased(row) {
        None
    } else if answered {
        Some(ANSWERED)
    } else {
        asked_for(&row.type_code).map(|_| PENDING)
    }
}

/// Whether booking `reference` has answers.
pub fn is_answered(conn: &mut DbConnection, reference: &str) -> Result<bool, ApiError> {
    Ok(!questionnaire_answers::answered_among(conn, &[reference.to_string()])?.is_empty())
}

/// A booking's answers as staff (or the patient) read them: with the
/// questionnaire's id and version they answer, and each question written
/// out when that version is still built in.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AnswersView {
    pub questionnaire_id: String,
    pub version: u32,
    /// Question id -> answer, as given (see `GET /api/v1/clinic` for kinds).
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
    /// RFC 3339, clinic time.
    pub answered_at: String,
    pub updated_at: String,
    /// The questions of that version with the answers written out.
    #[serde(skip)]
    pub questions: Vec<AnsweredQuestion>,
}

impl AnswersView {
    pub fn of(state: &AppState, stored: StoredAnswers) -> Self {
        let local =
            |at: NaiveDateTime| crate::schedule::availability::rfc3339(state.calendar.local(at));
        let questions = questionnaire::find(&stored.questionnaire_id, stored.version)
            .map(|questionnaire| questionnaire.describe(&stored.values))
            .unwrap_or_default();
        AnswersView {
            questionnaire_id: stored.questionnaire_id,
            version: stored.version,
            answered_at: local(stored.answered_at),
            updated_at: local(stored.updated_at),
            values: stored.values,
            questions,
        }
    }
}

/// The answers of booking `reference`, if given.
pub fn answers_of(
    conn: &mut DbConnection,
    state: &AppState,
    reference: &str,
) -> Result<Option<AnswersView>, ApiError> {
    Ok(questionnaire_answers::find(conn, reference)?.map(|stored| AnswersView::of(state, stored)))
}

/// The questionnaire the patient of `row` answers through the manage link:
/// the one their type asks now (a booking of a type without one has
/// nothing to answer: 404).
pub fn to_answer(row: &BookingRow) -> Result<&'static Questionnaire, ApiError> {
    asked_for(&row.type_code).ok_or(ApiError::NotFound)
}

/// Rule: a patient may give or change the answers of a confirmed booking
/// until its start (the doctor reads them before the visit; the change
/// deadline for moves does not apply). Afterwards, or once the booking is
/// no longer confirmed, 422: `answers` / `questionnaire_closed`.
pub fn ensure_answerable(row: &BookingRow, now: DateTime<Utc>) -> Result<(), ApiError> {
    if row.status() != BookingStatus::Confirmed || row.start_at <= now.naive_utc() {
        return Err(ApiError::field("answers", "questionnaire_closed"));
    }
    Ok(())
}

/// Stores the answers of a new booking, in its transaction.
pub fn store_with_booking(
    conn: &mut DbConnection,
    reference: &str,
    answers: Option<&Answers>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(answers) = answers {
        questionnaire_answers::save(conn, reference, answers, now.naive_utc())?;
    }
    Ok(())
}

/// The patient gives or changes the answers of `row` (see
/// `ensure_answerable`); recorded in the audit log without their content.
pub fn answer_by_patient(
    conn: &mut DbConnection,
    state: &AppState,
    row: &BookingRow,
    answers: &Answers,
    now: DateTime<Utc>,
) -> Result<AnswersView, ApiError> {
    ensure_answerable(row, now)?;
    let first = !is_answered(conn, &row.reference)?;
    questionnaire_answers::save(conn, &row.reference, answers, now.naive_utc())?;
    let detail = serde_json::json!({
        "questionnaire": answers.questionnaire_id,
        "version": answers.version,
    });
    let action = if first {
        "booking.questionnaire_answered"
    } else {
        "booking.questionnaire_changed"
    };
    audit(
        conn,
        &Actor::Patient,
        action,
        &row.reference,
        Some(&detail),
        now,
    )?;
    tracing::info!(reference = %row.reference, "questionnaire answered");
    answers_of(conn, state, &row.reference)?.ok_or(ApiError::NotFound)
}
