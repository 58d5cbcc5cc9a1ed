//! Erasure of one patient's personal data on request (APPI): the booking
//! or inquiry stays as an anonymised record for statistics.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpResponse};
use chrono::Utc;

use super::StaffAuth;
use crate::error::ApiError;
use crate::routes::bookings::BookingView;
use crate::state::AppState;

/// `DELETE /api/v1/staff/bookings/{reference}/personal-data`: a confirmed
/// booking is cancelled first (its slots are freed; no mail is sent), then
/// its personal fields are replaced and its emails deleted.
#[utoipa::path(delete, path = "/api/v1/staff/bookings/{reference}/personal-data",
    operation_id = "eraseBookingPersonalData", tag = "staff",
    security(("staff_token" = [])),
    params(("reference" = String, Path, description = "The booking's reference, e.g. K7QM-3XWD")),
    responses(
        (status = 200, description = "Erased: the anonymised booking (empty name, email and phone)", body = BookingView),
        (status = 401, description = "Missing or invalid staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown reference", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn erase_booking(
    auth: StaffAuth,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let work_state = state.clone();
    let actor = auth.actor();
    let (row, _) = state
        .db
        .write(move |conn| {
            crate::workflows::privacy::erase_booking(
                conn,
                &work_state,
                &reference,
                &actor,
                Utc::now(),
            )
        })
        .await?;
    if let Some(dir) = crate::workflows::privacy::mail_dir(&state.settings) {
        crate::workflows::privacy::delete_mail_files(dir, std::slice::from_ref(&row.reference));
    }
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(BookingView::of(&state, &row, None)))
}

/// `DELETE /api/v1/staff/inquiries/{reference}/personal-data`: the inquiry
/// is closed, its personal fields replaced and its emails deleted.
#[utoipa::path(delete, path = "/api/v1/staff/inquiries/{reference}/personal-data",
    operation_id = "eraseInquiryPersonalData", tag = "staff",
    security(("staff_token" = [])),
    params(("reference" = String, Path, description = "The inquiry's reference")),
    responses(
        (status = 204, description = "Erased"),
        (status = 401, description = "Missing or invalid staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown reference", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn erase_inquiry(
    auth: StaffAuth,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.actor();
    let lookup = reference.into_inner();
    let erased = lookup.clone();
    state
        .db
        .write(move |conn| {
            crate::workflows::privacy::erase_inquiry(conn, &lookup, &actor, Utc::now())
        })
        .await?;
    if let Some(dir) = crate::workflows::privacy::mail_dir(&state.settings) {
        if let Some(reference) = crate::domain::Reference::parse(&erased) {
            crate::workflows::privacy::delete_mail_files(dir, &[reference.as_str().to_string()]);
        }
    }
    Ok(HttpResponse::NoContent().finish())
}
