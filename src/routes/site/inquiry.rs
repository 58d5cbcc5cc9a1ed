//! The inquiry form's POST: `POST /inquiry` stores the inquiry through the
//! same parsing and workflow as `POST /api/v1/inquiries`, then redirects
//! (303) to a thank-you page so a reload cannot send it twice. The form
//! itself is served by `pages::inquiry_form`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::pages::{self, InquiryValues};
use super::reserve::without_bad_source;
use super::{error_page, guard, see_other, Privacy};
use crate::domain::{FieldError, NewInquiry, Reference};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::state::AppState;
use crate::workflows;

/// `POST /inquiry`: stores the inquiry, or shows the form again with every
/// problem beside its field.
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let submission =
        match read_submission(&req, payload, state.settings.server.body_limit_bytes).await {
            Ok(submission) => submission,
            Err(error) => return error_page(&state, &error),
        };
    let fields = without_bad_source(submission.fields);
    let now = Utc::now();
    if let Err(rejection) = guard::check(&fields, &state.settings.forms, now) {
        return pages::rejected(&state, rejection, "/inquiry");
    }
    let invalid = |errors: &[FieldError]| {
        pages::inquiry_page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            InquiryValues::of(&fields),
            errors,
        )
    };
    let new_inquiry = match NewInquiry::parse(&fields) {
        Ok(new_inquiry) => new_inquiry,
        Err(errors) => return invalid(&errors),
    };
    let work_state = state.clone();
    let stored = state
        .db
        .write(move |conn| workflows::inquiries::submit(conn, &work_state, &new_inquiry, now))
        .await;
    match stored {
        Ok(row) => see_other(
            &format!("/inquiry/thanks/{}", row.reference),
            Privacy::Private,
        ),
        Err(ApiError::Validation(errors)) => invalid(&errors),
        Err(error) => error_page(&state, &error),
    }
}

/// `GET /inquiry/thanks/{reference}`: the page after an inquiry was sent.
/// It shows nothing but the reference in its own address, so it reveals
/// nothing about which inquiries exist and needs no database.
pub async fn thanks(reference: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    match Reference::parse(&reference) {
        Some(reference) => pages::inquiry_received(&state, reference.as_str()),
        None => error_page(&state, &ApiError::NotFound),
    }
}
