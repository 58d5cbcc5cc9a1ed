//! The patient's intake questionnaire through the manage link: read it with
//! the answers given so far, and give or change them until the visit.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::input::read_submission;
use super::presented_tokens;
use crate::db::bookings::BookingRow;
use crate::domain::body_limit_for;
use crate::domain::questionnaire::{self, Questionnaire, MAX_ANSWERS_CHARS};
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::workflows::booking::{self, TokenWindow};
use crate::workflows::questionnaire::{self as intake, AnswersView};

/// A booking's questionnaire as its patient sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuestionnaireAnswers {
    pub reference: String,
    /// `pending` or `answered`.
    pub status: &'static str,
    /// The questions to answer (the same shape as in `GET /api/v1/clinic`).
    pub questionnaire: Questionnaire,
    /// The answers given so far, with the version they answer; null while
    /// pending.
    pub answers: Option<AnswersView>,
    /// Answers can be given or changed until then (the visit's start), if
    /// the booking is still confirmed.
    #[schema(format = DateTime)]
    pub open_until: String,
    /// Whether they can be given or changed now.
    pub open: bool,
}

impl QuestionnaireAnswers {
    fn of(
        state: &AppState,
        row: &BookingRow,
        questionnaire: &Questionnaire,
        answers: Option<AnswersView>,
    ) -> Self {
        QuestionnaireAnswers {
            reference: row.reference.clone(),
            status: if answers.is_some() {
                intake::ANSWERED
            } else {
                intake::PENDING
            },
            questionnaire: questionnaire.clone(),
            answers,
            open_until: rfc3339(state.calendar.local(row.start_at)),
            open: intake::ensure_answerable(row, Utc::now()).is_ok(),
        }
    }
}

fn private_json(view: &QuestionnaireAnswers) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(view)
}

/// `GET /api/v1/bookings/{reference}/answers`
#[utoipa::path(get, path = "/api/v1/bookings/{reference}/answers", operation_id = "getBookingAnswers", tag = "public",
    params(
        ("reference" = String, Path, description = "The booking reference, e.g. K7QM-3XWD"),
        ("token" = Option<String>, Query, description = "The manage token (or send it as Authorization: Bearer)"),
    ),
    security((), ("manage_token" = [])),
    responses(
        (status = 200, description = "The questionnaire with the answers given so far", body = QuestionnaireAnswers),
        (status = 404, description = "Unknown reference, a missing, wrong or expired token, or a type without a questionnaire", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tokens = presented_tokens(&req);
    let reference = reference.into_inner();
    let window = TokenWindow::at(&state.settings, Utc::now());
    let work_state = state.clone();
    let view = state
        .db
        .read(move |conn| {
            let row = booking::find_with_any_token(conn, &reference, &tokens, window)?;
            let asked = intake::to_answer(&row)?;
            let answers = intake::answers_of(conn, &work_state, &row.reference)?;
            Ok(QuestionnaireAnswers::of(&work_state, &row, asked, answers))
        })
        .await?;
    Ok(private_json(&view))
}

/// `PUT /api/v1/bookings/{reference}/answers` with `{"answers": {...}}`
#[utoipa::path(put, path = "/api/v1/bookings/{reference}/answers", operation_id = "answerBookingQuestionnaire", tag = "public",
    params(
        ("reference" = String, Path, description = "The booking reference, e.g. K7QM-3XWD"),
        ("token" = Option<String>, Query, description = "The manage token (or send it as Authorization: Bearer)"),
    ),
    security((), ("manage_token" = [])),
    request_body(content(
        (crate::routes::openapi::AnswersRequest = "application/json"),
        (crate::routes::openapi::AnswersRequest = "application/x-www-form-urlencoded"),
    ), description = "Every answer (the questionnaire's newest version), validated in full; a form sends `answers.<id>` fields"),
    responses(
        (status = 200, description = "Stored (replacing earlier answers)", body = QuestionnaireAnswers),
        (status = 400, description = "Malformed body", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown reference, a missing, wrong or expired token, or a type without a questionnaire", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Field errors on `answers.<id>` (`required`, `invalid_choice`, `too_long`, `out_of_range`, `invalid`, `unknown_field`), or `questionnaire_closed` on `answers`: the visit has started or the booking is no longer confirmed", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn update(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tokens = presented_tokens(&req);
    let reference = reference.into_inner();
    // Authorise before reading what is sent, so a stranger learns nothing.
    let window = TokenWindow::at(&state.settings, Utc::now());
    let lookup = (reference.clone(), tokens.clone());
    let current = state
        .db
        .read(move |conn| booking::find_with_any_token(conn, &lookup.0, &lookup.1, window))
        .await?;
    let submission = read_submission(
        &req,
        payload,
        state
            .settings
            .server
            .body_limit_bytes
            .max(body_limit_for(MAX_ANSWERS_CHARS)),
    )
    .await?;
    let view = answer(&state, current, &submission.fields, tokens).await?;
    Ok(private_json(&view))
}

/// Checks `fields` against the questionnaire of `current` and stores them;
/// shared by the API and the manage page.
pub async fn answer(
    state: &web::Data<AppState>,
    current: BookingRow,
    fields: &crate::domain::Fields,
    tokens: Vec<String>,
) -> Result<QuestionnaireAnswers, ApiError> {
    let now = Utc::now();
    let window = TokenWindow::at(&state.settings, now);
    let asked = intake::to_answer(&current)?;
    intake::ensure_answerable(&current, now)?;
    let answers =
        questionnaire::parse_required_answers(fields, asked).map_err(ApiError::Validation)?;
    let work_state = state.clone();
    let reference = current.reference.clone();
    state
        .db
        .write(move |conn| {
            let row = booking::find_with_any_token(conn, &reference, &tokens, window)?;
            let stored = intake::answer_by_patient(conn, &work_state, &row, &answers, now)?;
            Ok(QuestionnaireAnswers::of(
                &work_state,
                &row,
                asked,
                Some(stored),
            ))
        })
        .await
}
