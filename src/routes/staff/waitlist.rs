//! The day's waiting list for the reception (`GET /api/v1/staff/waitlist`).

use actix_web::{web, HttpResponse};
use std::collections::HashMap;

use super::{page, StaffAuth};
use crate::error::ApiError;
use crate::routes::waitlist::WaitlistView;
use crate::state::AppState;
use crate::workflows::waitlist;

/// One page of the day's entries (`{"items", "next"}`; a day is one page).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct WaitlistList {
    items: Vec<WaitlistView>,
    /// Always null: a day's list comes whole.
    next: Option<String>,
}

/// `GET /api/v1/staff/waitlist?date=YYYY-MM-DD`
#[utoipa::path(get, path = "/api/v1/staff/waitlist", operation_id = "listWaitlist", tag = "staff",
    params(("date" = Option<chrono::NaiveDate>, Query, description = "The clinic day (default: today)")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The day's entries in the order they joined, every status", body = WaitlistList),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 400, description = "`date` is not a date", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    auth: StaffAuth,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let date = page::parse_date("date", query.get("date").map(String::as_str))?
        .unwrap_or_else(|| state.calendar.today(now));
    let actor = auth.actor();
    let views = state
        .db
        .write(move |conn| waitlist::list_for_staff(conn, date, &actor, now))
        .await?;
    let items: Vec<WaitlistView> = views
        .iter()
        .map(|view| WaitlistView::of(&state, view, None))
        .collect();
    Ok(page::respond(&items, None))
}

/// `DELETE /api/v1/staff/waitlist/{reference}/personal-data`: the entry and
/// the same patient's other entries are deleted (a held seat is passed on).
#[utoipa::path(delete, path = "/api/v1/staff/waitlist/{reference}/personal-data",
    operation_id = "eraseWaitlistPersonalData", tag = "staff",
    security(("staff_token" = [])),
    params(("reference" = String, Path, description = "The entry's reference")),
    responses(
        (status = 204, description = "Erased"),
        (status = 401, description = "Missing or invalid staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown reference", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn erase(
    auth: StaffAuth,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.actor();
    let now = state.clock.now();
    let lookup = reference.into_inner();
    let erased = lookup.clone();
    state
        .db
        .write(move |conn| {
            crate::workflows::privacy::erase_waitlist_entry(conn, &lookup, &actor, now)
        })
        .await?;
    if let Some(dir) = crate::workflows::privacy::mail_dir(&state.settings) {
        if let Some(reference) = crate::domain::Reference::parse(&erased) {
            crate::workflows::privacy::delete_mail_files(dir, &[reference.as_str().to_string()]);
        }
    }
    Ok(HttpResponse::NoContent().finish())
}
