//! The manage page's questionnaire page: `GET /manage/{reference}/questionnaire`
//! shows the booking's intake questionnaire with the answers given so far,
//! `POST` gives or changes them (until the visit) through the same parsing
//! and workflow as `PUT /api/v1/bookings/{reference}/answers`, then goes
//! back (303) to the manage page. Opened like the manage page: by the
//! manage token (`?token=`, or the form's `token` field).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;

use super::picker::FormErrors;
use super::questionnaire_form::QuestionnaireForm;
use super::{encode_query, error_page, page, query_map, span_ja, Layout, Privacy};
use crate::db::bookings::BookingRow;
use crate::db::DbConnection;
use crate::domain::questionnaire::{self, AnsweredQuestion, Questionnaire};
use crate::domain::{FieldError, Fields};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::state::AppState;
use crate::workflows::booking;
use crate::workflows::questionnaire as intake;

/// What opens the booking: the manage link's token, in the address of a
/// GET and as a hidden field of the form.
#[derive(Clone)]
struct Proof {
    token: String,
}

impl Proof {
    fn open(&self, conn: &mut DbConnection, reference: &str) -> Result<BookingRow, ApiError> {
        booking::find_with_token(conn, reference, Some(&self.token))
    }

    /// The manage page of `reference`, with `extra` query pairs.
    fn manage_href(&self, reference: &str, extra: &[(&str, &str)]) -> String {
        let mut pairs = vec![("token", self.token.as_str())];
        pairs.extend_from_slice(extra);
        format!("/manage/{reference}?{}", encode_query(&pairs))
    }
}

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
    /// The manage token, for the form's hidden field.
    pub token: String,
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
            let row = work_proof.open(conn, &reference)?;
            let answers = intake::answers_of(conn, &work_state, &row.reference)?;
            Ok((row, answers))
        })
        .await;
    let (row, answers) = match found {
        Ok(found) => found,
        Err(error) => return error_page(state, &error),
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
            back_href: proof.manage_href(&row.reference, &[]),
            token: proof.token,
            reference: row.reference,
            errors: FormErrors::of(errors),
        },
    )
}

/// `GET /manage/{reference}/questionnaire?token=`
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = query_map(req.query_string())
        .remove("token")
        .unwrap_or_default();
    render(
        &state,
        Proof { token },
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
    let proof = Proof {
        token: fields.text("token").ok().flatten().unwrap_or_default(),
    };
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
            let row = work_proof.open(conn, &work_reference)?;
            let asked = intake::to_answer(&row)?;
            intake::ensure_answerable(&row, now)?;
            let answers = questionnaire::parse_required_answers(&work_fields, asked)
                .map_err(ApiError::Validation)?;
            intake::answer_by_patient(conn, &work_state, &row, &answers, now)?;
            Ok(row.reference)
        })
        .await;
    match saved {
        Ok(reference) => super::see_other(
            &proof.manage_href(&reference, &[("done", "answered")]),
            Privacy::Private,
        ),
        Err(ApiError::Validation(errors)) => {
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
        Err(error) => error_page(&state, &error),
    }
}
