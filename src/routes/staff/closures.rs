//! Closures: staff block a whole date (`{"date", "reason"}`) or a time range
//! (`{"start", "end", "reason"}`). Availability and new bookings respect
//! them at once; creating one returns the confirmed bookings it overlaps so
//! staff can call those patients.

use std::collections::HashMap;

use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::json;

use super::bookings::{views, StaffBookingView};
use super::page::{self, Cursor, PageRequest};
use super::StaffAuth;
use crate::db::closures::{self, ClosureRow, NewClosure};
use crate::db::staff_bookings;
use crate::domain::{collect, FieldError, Fields, FreeText};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;

const FIELDS: [&str; 4] = ["date", "start", "end", "reason"];
const MAX_REASON_CHARS: usize = 200;

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
            created_by: row.created_by.clone(),
            created_at: local(row.created_at),
            affected_bookings: None,
        }
    }
}

/// What a closure blocks, in clinic time.
struct ClosureRequest {
    date: Option<NaiveDate>,
    start: DateTime<Tz>,
    end: DateTime<Tz>,
    reason: String,
}

fn parse_request(fields: &Fields, state: &AppState) -> Result<ClosureRequest, ApiError> {
    let calendar = &state.calendar;
    let mut errors: Vec<FieldError> = super::patch::unknown_fields(fields, &FIELDS);
    let reason = collect(
        &mut errors,
        fields.text("reason").and_then(|raw| {
            raw.map(|raw| FreeText::parse("reason", &raw, MAX_REASON_CHARS))
                .transpose()
        }),
    )
    .flatten()
    .map(|reason| reason.as_str().to_string())
    .unwrap_or_default();
    let date = collect(&mut errors, fields.text("date")).flatten();
    let range = match date {
        Some(raw) => {
            let start = collect(&mut errors, fields.text("start")).flatten();
            let end = collect(&mut errors, fields.text("end")).flatten();
            if start.is_some() || end.is_some() {
                // One or the other: a date, or a start and an end.
                errors.push(FieldError::new("date", "invalid"));
                None
            } else {
                let day = page::date(&raw);
                let bounds = day.and_then(|day| {
                    let start = calendar.at(day, NaiveTime::MIN)?;
                    let end = calendar.at(day + Duration::days(1), NaiveTime::MIN)?;
                    Some((Some(day), start, end))
                });
                if bounds.is_none() {
                    errors.push(FieldError::new("date", "invalid"));
                }
                bounds
            }
        }
        None => {
            let mut time = |name: &str| match fields.text(name) {
                Ok(Some(raw)) => calendar.parse_start(&raw).or_else(|| {
                    errors.push(FieldError::new(name, "invalid"));
                    None
                }),
                Ok(None) => {
                    errors.push(FieldError::new(name, "required"));
                    None
                }
                Err(error) => {
                    errors.push(error);
                    None
                }
            };
            let (start, end) = (time("start"), time("end"));
            match (start, end) {
                (Some(start), Some(end)) if end <= start => {
                    errors.push(FieldError::new("end", "invalid_range"));
                    None
                }
                (Some(start), Some(end)) => Some((None, start, end)),
                _ => None,
            }
        }
    };
    match range {
        Some((date, start, end)) if errors.is_empty() => Ok(ClosureRequest {
            date,
            start,
            end,
            reason,
        }),
        _ => Err(ApiError::Validation(errors)),
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
        (status = 422, description = "Invalid fields (all of them): `required`, `invalid`, `invalid_range`, `too_long`, `unknown_field`", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    auth: StaffAuth,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let submission = read_submission(&req, payload, state.settings.server.body_limit_bytes).await?;
    let request = parse_request(&submission.fields, &state)?;
    let now = Utc::now();
    let actor = auth.actor();
    let work_state = state.clone();
    let view = state
        .db
        .write(move |conn| {
            let (start, end) = (request.start.naive_utc(), request.end.naive_utc());
            let row = closures::insert(
                conn,
                &NewClosure {
                    closed_date: request.date,
                    start_at: start,
                    end_at: end,
                    reason: &request.reason,
                    created_by: actor.name(),
                    created_at: now.naive_utc(),
                },
            )?;
            let affected = staff_bookings::confirmed_overlapping(conn, start, end)?;
            let detail = json!({
                "id": row.id,
                "start": rfc3339(request.start),
                "end": rfc3339(request.end),
                "affected_bookings": affected.len(),
            });
            crate::db::audit::record(
                conn,
                now.naive_utc(),
                actor.name(),
                "closure.created",
                None,
                Some(&detail.to_string()),
            )?;
            for booking in &affected {
                crate::workflows::booking::audit(
                    conn,
                    &actor,
                    "booking.inside_closure",
                    &booking.reference,
                    Some(&json!({"closure": row.id})),
                    now,
                )?;
            }
            let mut view = ClosureView::of(&work_state, &row);
            view.affected_bookings = Some(views(conn, &work_state, &affected)?);
            Ok(view)
        })
        .await?;
    tracing::info!(closure = view.id, "closure created");
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
        .write(move |conn| {
            if !closures::delete(conn, id)? {
                return Err(ApiError::NotFound);
            }
            crate::db::audit::record(
                conn,
                Utc::now().naive_utc(),
                actor.name(),
                "closure.deleted",
                None,
                Some(&json!({"id": id}).to_string()),
            )
        })
        .await?;
    tracing::info!(closure = id, "closure deleted");
    Ok(HttpResponse::NoContent().finish())
}
