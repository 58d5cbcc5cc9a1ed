//! The manage page's questionnaire page: `GET /manage/{reference}/questionnaire`
//! shows the booking's intake questionnaire with the answers given so far,
//! `POST` gives or changes them (until the visit) through the same parsing
//! and workflow as `PUT /api/v1/bookings/{reference}/answers`, then goes
//! back (303) to the manage page. Opened like the manage page: by its
//! cookie (or a `token` field).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;

use super::manage::{manage_href, open_with, refusal_page, Proof, Refusal};
use super::picker::FormErrors;
use super::questionnaire_form::QuestionnaireForm;
use super::{error_page, page, span_ja, Layout, Privacy};
use crate::domain::questionnaire::{self, AnsweredQuestion, Questionnaire};
use crate::domain::{FieldError, Fields};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::state::AppState;
use crate::workflows::questionnaire as intake;

#[derive(Template)]
#[template(path = "manage_questionnaire.html")]
pub struct QuestionnairePage {
    pub layout: Layout,
    pub reference: String,
    pub when: String,
    pub type_label: String,
    pub answered: bool,
    /// The form, while answers can still be given or changed.
    pub questionnaire: Option<QuestionnaireForm>,
    /// The answers given, read-only, once they can no longer change.
    pub given: Vec<AnsweredQuestion>,
    pub back_href: String,
    pub errors: FormErrors,
}

/// Renders the page for `row`: the form filled with `typed` (what a form
/// that came back sent) or else with the stored answers.
async fn render(
    state: &web::Data<AppState>,
    proof: Proof,
    reference: String,
    status: StatusCode,
    typed: Option<&Fields>,
    errors: &[FieldError],
) -> HttpResponse {
    let now = Utc::now();
    let (work_state, work_proof) = (state.clone(), proof.clone());
    let found = state
        .db
        .read(move |conn| {
            let row = match open_with(conn, &work_state, &reference, &work_proof, now) {
                Ok(row) => row,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let answers = intake::answers_of(conn, &work_state, &row.reference)?;
            Ok(Ok((row, answers)))
        })
        .await
        .unwrap_or_else(|error| Err(Refusal::Error(error)));
    let (row, answers) = match found {
        Ok(found) => found,
        Err(refusal) => return refusal_page(state, refusal),
    };
    let asked: &Questionnaire = match intake::to_answer(&row) {
        Ok(asked) => asked,
        Err(error) => return error_page(state, &error),
    };
    let open = intake::ensure_answerable(&row, now).is_ok();
    let form = open.then(|| match typed {
        Some(fields) => QuestionnaireForm::typed(asked, fields),
        None => QuestionnaireForm::of(
            asked,
            &answers
                .as_ref()
                .map(|answers| answers.values.clone())
                .unwrap_or_default(),
        ),
    });
    let calendar = &state.calendar;
    page(
        status,
        Privacy::Private,
        &QuestionnairePage {
            layout: Layout::of(state),
            when: span_ja(calendar.local(row.start_at), calendar.local(row.end_at)),
            type_label: crate::workflows::booking::kind_of(state, &row)
                .label
                .clone(),
            answered: answers.is_some(),
            questionnaire: form,
            given: if open {
                Vec::new()
            } else {
                answers.map(|answers| answers.questions).unwrap_or_default()
            },
            back_href: manage_href(&row.reference, &[]),
            reference: row.reference,
            errors: FormErrors::of(errors),
        },
    )
}

/// `GET /manage/{reference}/questionnaire`
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    render(
        &state,
        Proof::of(&req, None),
        reference.into_inner(),
        StatusCode::OK,
        None,
        &[],
    )
    .await
}

/// `POST /manage/{reference}/questionnaire` with `answers.<id>` fields.
pub async fn submit(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let limit = state
        .settings
        .server
        .body_limit_bytes
        .max(crate::domain::body_limit_for(
            questionnaire::MAX_ANSWERS_CHARS,
        ));
    let fields = match read_submission(&req, payload, limit).await {
        Ok(submission) => submission.fields,
        Err(error) => return error_page(&state, &error),
    };
    let proof = Proof::of(&req, fields.text("token").ok().flatten());
    let reference = reference.into_inner();
    let now = Utc::now();
    let (work_state, work_proof, work_reference, work_fields) = (
        state.clone(),
        proof.clone(),
        reference.clone(),
        fields.clone(),
    );
    let saved = state
        .db
        .write(move |conn| {
            let row = match open_with(conn, &work_state, &work_reference, &work_proof, now) {
                Ok(row) => row,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let asked = intake::to_answer(&row)?;
            intake::ensure_answerable(&row, now)?;
            let answers = questionnaire::parse_required_answers(&work_fields, asked)
                .map_err(ApiError::Validation)?;
            intake::answer_by_patient(conn, &work_state, &row, &answers, now)?;
            Ok(Ok(row.reference))
        })
        .await
        .unwrap_or_else(|error| Err(Refusal::Error(error)));
    match saved {
        Ok(reference) => super::see_other(
            &manage_href(&reference, &[("done", "answered")]),
            Privacy::Private,
        ),
        Err(Refusal::Error(ApiError::Validation(errors))) => {
            render(
                &state,
                proof,
                reference,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&fields),
                &errors,
            )
            .await
        }
        Err(refusal) => refusal_page(&state, refusal),
    }
}
