//! Closures: staff block a whole date (`{"date", "reason"}`) or a time range
//! (`{"start", "end", "reason"}`), for the clinic or, with `resource`, as
//! one practitioner's or room's time off. Availability and new bookings respect
//! them at once; creating one returns the confirmed bookings it overlaps so
//! staff can call those patients.

use std::collections::HashMap;

use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::bookings::{views, StaffBookingView};
use super::page::{self, Cursor, PageRequest};
use super::StaffAuth;
use crate::db::closures::{self, ClosureRow};
use crate::domain::{ClosureRequest, FieldError, Fields};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::workflows::closures as closures_workflow;

const FIELDS: [&str; 5] = ["date", "start", "end", "reason", "resource"];

/// A closed date or time range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClosureView {
    pub id: i32,
    /// The closed clinic date, for a whole-day closure; else null.
    #[schema(format = Date)]
    pub date: Option<String>,
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
    pub reason: String,
    /// The practitioner or room (its code) whose time off it is; null when
    /// the clinic closes.
    pub resource: Option<String>,
    /// The label of the staff token that made it.
    pub created_by: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Only when created: the confirmed bookings inside it (they stay booked).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub affected_bookings: Option<Vec<StaffBookingView>>,
}

impl ClosureView {
    fn of(state: &AppState, row: &ClosureRow) -> Self {
        let local = |t| rfc3339(state.calendar.local(t));
        ClosureView {
            id: row.id,
            date: row.closed_date.map(|d| d.to_string()),
            start: local(row.start_at),
            end: local(row.end_at),
            reason: row.reason.clone(),
            resource: row.resource.clone(),
            created_by: row.created_by.clone(),
            created_at: local(row.created_at),
            affected_bookings: None,
        }
    }
}

/// The closure a body asks for; a field of another name is refused.
fn parse_request(fields: &Fields, state: &AppState) -> Result<ClosureRequest, ApiError> {
    let mut errors: Vec<FieldError> = super::patch::unknown_fields(fields, &FIELDS);
    let resource = fields
        .text("resource")
        .and_then(|raw| crate::workflows::resources::closure_resource(state, raw.as_deref()))
        .unwrap_or_else(|error| {
            errors.push(error);
            None
        });
    match ClosureRequest::parse(fields, &state.calendar) {
        Ok(mut request) if errors.is_empty() => {
            request.resource = resource;
            Ok(request)
        }
        Ok(_) => Err(ApiError::Validation(errors)),
        Err(invalid) => {
            errors.extend(invalid);
            Err(ApiError::Validation(errors))
        }
    }
}

/// `POST /api/v1/staff/closures`: 201 with the closure and the confirmed
/// bookings it overlaps (`affected_bookings`), which stay booked.
#[utoipa::path(post, path = "/api/v1/staff/closures", operation_id = "createStaffClosure", tag = "staff",
    security(("staff_token" = [])),
    request_body(content(
        (crate::routes::openapi::ClosureRequest = "application/json"),
        (crate::routes::openapi::ClosureRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "Closed; with `affected_bookings`", body = ClosureView,
            headers(("Location" = String, description = "The closure's URL"))),
        (status = 400, description = "Malformed body", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 413, description = "Body too large", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them): `required`, `invalid`, `invalid_range`, `too_long`, `unknown_field`, `invalid_resource` (no practitioner or room has this code)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    auth: StaffAuth,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = crate::domain::ClosureRequest::MAX_BODY_BYTES;
    let submission = read_submission(
        &req,
        payload,
        state.settings.server.body_limit_bytes.max(limit),
    )
    .await?;
    let request = parse_request(&submission.fields, &state)?;
    let now = Utc::now();
    let actor = auth.actor();
    let work_state = state.clone();
    let slot_minutes = state.calendar.slot_minutes();
    let view = state
        .db
        .write(move |conn| {
            let closed = closures_workflow::close(conn, &request, slot_minutes, &actor, now)?;
            let mut view = ClosureView::of(&work_state, &closed.closure);
            view.affected_bookings = Some(views(conn, &work_state, &closed.affected)?);
            Ok(view)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/staff/closures/{}", view.id)))
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(view))
}

/// `GET /api/v1/staff/closures?from=&limit=&after=`: closures that end on
/// or after the clinic date `from` (default today), by start.
#[utoipa::path(get, path = "/api/v1/staff/closures", operation_id = "listStaffClosures", tag = "staff",
    params(
        ("from" = Option<chrono::NaiveDate>, Query, description = "Closures ending on or after this clinic date (default: today)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size (default 100)"),
        ("after" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$", description = "The cursor from `next`"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Closures by start", body = crate::routes::openapi::ClosureList),
        (status = 400, description = "A malformed date or cursor", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 422, description = "`limit` out of range (`invalid`)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    _auth: StaffAuth,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let get = |name: &str| query.get(name).map(String::as_str);
    let from =
        page::parse_date("from", get("from"))?.unwrap_or_else(|| state.calendar.today(Utc::now()));
    let page = PageRequest::from_query(get("limit"), get("after"))?;
    let after = match &page.after {
        Some(cursor) => Some((
            cursor.at,
            cursor.key.parse::<i32>().map_err(|_| Cursor::invalid())?,
        )),
        None => None,
    };
    let from_at = crate::schedule::availability::utc_range(&state.calendar, from, from).0;
    let fetch = page.fetch();
    let rows = state
        .db
        .read(move |conn| closures::page(conn, from_at, after, fetch))
        .await?;
    let (rows, next) = page.split(rows, |row| Cursor {
        at: row.start_at,
        key: row.id.to_string(),
    });
    let items: Vec<ClosureView> = rows
        .iter()
        .map(|row| ClosureView::of(&state, row))
        .collect();
    Ok(page::respond(&items, page::next_url(&state, &req, next)))
}

/// `GET /api/v1/staff/closures/{id}`
#[utoipa::path(get, path = "/api/v1/staff/closures/{id}", operation_id = "getStaffClosure", tag = "staff",
    params(("id" = i32, Path, description = "The closure id")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The closure", body = ClosureView),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "No closure has this id", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    _auth: StaffAuth,
    id: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state
        .db
        .read(move |conn| closures::find(conn, id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(ClosureView::of(&state, &row)))
}

/// `DELETE /api/v1/staff/closures/{id}`: 204; the time is bookable again.
#[utoipa::path(delete, path = "/api/v1/staff/closures/{id}", operation_id = "deleteStaffClosure", tag = "staff",
    params(("id" = i32, Path, description = "The closure id")),
    security(("staff_token" = [])),
    responses(
        (status = 204, description = "Deleted; the time is bookable again"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "No closure has this id", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    auth: StaffAuth,
    id: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let actor = auth.actor();
    state
        .db
        .write(move |conn| closures_workflow::reopen(conn, id, &actor, Utc::now()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
