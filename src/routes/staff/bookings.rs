//! Staff bookings: list by time, view one (with its audit trail), and
//! change status, start or staff note.

use std::collections::HashMap;

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::page::{self, Cursor, PageRequest};
use super::patch;
use super::StaffAuth;
use crate::db::audit::{self, AuditRow};
use crate::db::bookings::BookingRow;
use crate::db::staff_bookings::{self, BookingFilter, StatusTimes};
use crate::domain::{Booker, BookingStatus, Fields, SlotStart};
use crate::error::ApiError;
use crate::routes::bookings::BookingView;
use crate::routes::input::read_submission;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::workflows::booking::{self, StaffChange};
use crate::workflows::questionnaire::AnswersView;
use crate::workflows::staff_reads;

/// A booking as staff see it: the patient's view plus where it came from,
/// the staff note and when each status was reached.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffBookingView {
    #[serde(flatten)]
    pub booking: BookingView,
    pub source: Option<String>,
    pub staff_note: Option<String>,
    #[schema(format = DateTime)]
    pub confirmed_at: String,
    /// When the patient was checked in (受付済), if they were.
    #[schema(format = DateTime)]
    pub arrived_at: Option<String>,
    #[schema(format = DateTime)]
    pub cancelled_at: Option<String>,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub no_show_at: Option<String>,
    /// The booking's audit trail, oldest first (only on a single booking).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub audit: Option<Vec<AuditView>>,
    /// The booking's emails and how their delivery stands (only when one
    /// booking is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<Vec<super::outbox::OutboxView>>,
    /// The intake questionnaire's answers with the questionnaire's id and
    /// version (health data: staff views only); null while pending.
    pub answers: Option<AnswersView>,
}

/// One entry of the audit log: who did what, when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    #[schema(format = DateTime)]
    pub at: String,
    pub actor: String,
    pub action: String,
    pub reference: Option<String>,
    /// What changed (any JSON; never patient details).
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

impl AuditView {
    pub fn of(state: &AppState, row: &AuditRow) -> Self {
        AuditView {
            at: rfc3339(state.calendar.local(row.at)),
            actor: row.actor.clone(),
            action: row.action.clone(),
            reference: row.reference.clone(),
            detail: row
                .detail
                .as_deref()
                .map(|d| serde_json::from_str(d).unwrap_or_else(|_| d.into())),
        }
    }
}

impl StaffBookingView {
    pub fn of(state: &AppState, row: &BookingRow, times: Option<&StatusTimes>) -> Self {
        let at = |t: Option<chrono::NaiveDateTime>| t.map(|t| rfc3339(state.calendar.local(t)));
        let times = times.cloned().unwrap_or_default();
        StaffBookingView {
            booking: BookingView::of(state, row, None),
            source: row.source.clone(),
            staff_note: row.staff_note.clone(),
            // A booking is confirmed when made, unless confirmed again later.
            confirmed_at: rfc3339(
                state
                    .calendar
                    .local(times.confirmed_at.unwrap_or(row.created_at)),
            ),
            arrived_at: at(times.arrived_at),
            cancelled_at: at(row.cancelled_at),
            completed_at: at(times.completed_at),
            no_show_at: at(times.no_show_at),
            audit: None,
            mail: None,
            answers: None,
        }
    }
}

/// Loads the status times of `rows` and builds their views.
pub fn views(
    conn: &mut crate::db::DbConnection,
    state: &AppState,
    rows: &[BookingRow],
) -> Result<Vec<StaffBookingView>, ApiError> {
    let references: Vec<String> = rows.iter().map(|row| row.reference.clone()).collect();
    let times: HashMap<String, StatusTimes> = staff_bookings::status_times(conn, &references)?;
    let mut answers = crate::db::questionnaire_answers::find_many(conn, &references)?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut view = StaffBookingView::of(state, row, times.get(&row.reference));
            let given = answers.remove(&row.reference);
            view.booking = view.booking.answered(row, given.is_some());
            view.answers = given.map(|stored| AnswersView::of(state, stored));
            view
        })
        .collect())
}

/// `GET /api/v1/staff/bookings?from=&to=&status=&limit=&after=`: bookings
/// starting on the clinic dates `from..=to`, by start. `from` defaults to
/// today (the desk's usual question); `to` may be left open.
#[utoipa::path(get, path = "/api/v1/staff/bookings", operation_id = "listStaffBookings", tag = "staff",
    params(
        ("from" = Option<chrono::NaiveDate>, Query, description = "First clinic date (default: today)"),
        ("to" = Option<chrono::NaiveDate>, Query, description = "Last clinic date, inclusive (default: open)"),
        ("status" = Option<String>, Query, description = "One status or several separated by commas: confirmed, arrived, cancelled, completed, no_show"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size (default 100)"),
        ("after" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$", description = "The cursor from `next`"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Bookings by start", body = crate::routes::openapi::StaffBookingList),
        (status = 400, description = "A malformed date or cursor", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 422, description = "`invalid_range`, or an unknown status or limit (`invalid`)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    auth: StaffAuth,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let get = |name: &str| query.get(name).map(String::as_str);
    let from =
        page::parse_date("from", get("from"))?.or_else(|| Some(state.calendar.today(Utc::now())));
    let to = page::parse_date("to", get("to"))?;
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            return Err(ApiError::field("to", "invalid_range"));
        }
    }
    let statuses = page::parse_list("status", get("status"), BookingStatus::parse)?;
    let page = PageRequest::from_query(get("limit"), get("after"))?;
    let calendar = &state.calendar;
    let filter = BookingFilter {
        from: from.map(|from| crate::schedule::availability::utc_range(calendar, from, from).0),
        to: to.map(|to| crate::schedule::availability::utc_range(calendar, to, to).1),
        statuses,
        after: page.after.clone().map(|cursor| (cursor.at, cursor.key)),
        limit: page.limit,
    };
    let work_state = state.clone();
    let actor = auth.actor();
    let (items, next) = state
        .db
        .write(move |conn| {
            let listed = staff_reads::list_bookings(conn, filter, &actor, Utc::now())?;
            let next = listed
                .rows
                .last()
                .filter(|_| listed.more)
                .map(|row| Cursor {
                    at: row.start_at,
                    key: row.reference.clone(),
                });
            Ok((views(conn, &work_state, &listed.rows)?, next))
        })
        .await?;
    Ok(page::respond(&items, page::next_url(&state, &req, next)))
}

/// Fields a staff PATCH may carry; anything else is refused, never ignored.
const PATCHABLE: [&str; 4] = ["status", "start", "staff_note", "practitioner"];

/// One booking with its audit trail, read in the caller's transaction.
fn full_view(
    conn: &mut crate::db::DbConnection,
    state: &AppState,
    row: &BookingRow,
) -> Result<StaffBookingView, ApiError> {
    let mut view = views(conn, state, std::slice::from_ref(row))?
        .pop()
        .ok_or(ApiError::NotFound)?;
    let trail = audit::for_reference(conn, &row.reference)?;
    view.audit = Some(trail.iter().map(|r| AuditView::of(state, r)).collect());
    view.mail = Some(super::outbox::OutboxView::for_reference(
        conn,
        state,
        &row.reference,
    )?);
    Ok(view)
}

fn private_json(view: &StaffBookingView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(view)
}

/// `GET /api/v1/staff/bookings/{reference}`
#[utoipa::path(get, path = "/api/v1/staff/bookings/{reference}", operation_id = "getStaffBooking", tag = "staff",
    params(("reference" = String, Path, description = "The booking reference, e.g. K7QM-3XWD")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The booking with its audit trail", body = StaffBookingView),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "No booking has this reference", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    auth: StaffAuth,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let work_state = state.clone();
    let actor = auth.actor();
    let view = state
        .db
        .write(move |conn| {
            let row = staff_reads::view_booking(conn, &reference, &actor, Utc::now())?;
            full_view(conn, &work_state, &row)
        })
        .await?;
    Ok(private_json(&view))
}

/// Reads a PATCH body into a change, reporting every bad field at once.
fn parse_change(
    fields: &Fields,
    state: &AppState,
    current: &BookingRow,
) -> Result<StaffChange, ApiError> {
    let mut errors = patch::unknown_fields(fields, &PATCHABLE);
    let mut change = StaffChange {
        status: patch::status(fields, &mut errors, BookingStatus::parse),
        ..StaffChange::default()
    };
    if fields.contains("start") {
        let kind = booking::kind_of(state, current);
        match fields
            .text("start")
            .and_then(|raw| SlotStart::parse(raw, kind, &state.calendar, Utc::now(), Booker::Staff))
        {
            Ok(start) => change.start = Some(start),
            Err(error) => errors.push(error),
        }
    }
    change.staff_note = patch::staff_note(fields, &mut errors);
    change.practitioner = practitioner(fields, state, current, &mut errors);
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `practitioner`, when present: one who takes the booking's type
/// (`invalid_practitioner` otherwise); blank or null changes nothing.
pub fn practitioner(
    fields: &Fields,
    state: &AppState,
    current: &BookingRow,
    errors: &mut Vec<crate::domain::FieldError>,
) -> Option<String> {
    let raw = match fields.text("practitioner") {
        Ok(raw) => raw,
        Err(error) => {
            errors.push(error);
            return None;
        }
    };
    let kind = booking::kind_of(state, current);
    match crate::workflows::resources::named_practitioner(state, kind, raw.as_deref()) {
        Ok(named) => named,
        Err(ApiError::Validation(refused)) => {
            errors.extend(refused);
            None
        }
        Err(_) => {
            errors.push(crate::domain::FieldError::new(
                "practitioner",
                "invalid_practitioner",
            ));
            None
        }
    }
}

/// `PATCH /api/v1/staff/bookings/{reference}` with any of `status`, `start`,
/// `staff_note`, `practitioner`; the change is all or nothing.
#[utoipa::path(patch, path = "/api/v1/staff/bookings/{reference}", operation_id = "updateStaffBooking", tag = "staff",
    params(("reference" = String, Path, description = "The booking reference, e.g. K7QM-3XWD")),
    security(("staff_token" = [])),
    request_body(content(
        (crate::routes::openapi::StaffBookingChange = "application/json"),
        (crate::routes::openapi::StaffBookingChange = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The changed booking with its audit trail", body = StaffBookingView),
        (status = 400, description = "Malformed body", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "No booking has this reference", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slot_unavailable`: on `start` (a new start; with `alternatives`), or on `practitioner` (at the same time, the practitioner is not free for the whole duration and buffer)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them): `unknown_field`, `invalid`, start rules, `invalid_status`, `invalid_practitioner` (one who does not take the booking's type), ...", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    auth: StaffAuth,
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let reference = reference.into_inner();
    let lookup = reference.clone();
    let current = state
        .db
        .read(move |conn| booking::find_for_staff(conn, &lookup))
        .await?;
    let submission = read_submission(
        &req,
        payload,
        state
            .settings
            .server
            .body_limit_bytes
            .max(super::patch::MAX_BODY_BYTES),
    )
    .await?;
    let change = parse_change(&submission.fields, &state, &current)?;
    let now = Utc::now();
    let kind = booking::kind_of(&state, &current).clone();
    let around = change
        .start
        .map(|start| start.at())
        .unwrap_or_else(|| state.calendar.local(current.start_at));
    let work_state = state.clone();
    let actor = auth.actor();
    let only_reassigned = change.start.is_none() && change.practitioner.is_some();
    let changed = state
        .db
        .write(move |conn| {
            let row = booking::change_by_staff(conn, &work_state, &reference, change, &actor, now)?;
            full_view(conn, &work_state, &row)
        })
        .await;
    match changed {
        Ok(view) => Ok(private_json(&view)),
        // The time stays: it is the practitioner who is not free then.
        Err(ApiError::SlotUnavailable { .. }) if only_reassigned => Err(ApiError::Conflict {
            field: "practitioner",
            code: "slot_unavailable",
        }),
        // Alternatives follow the patient's rules (minimum notice
        // included): what staff can offer a patient on the phone.
        Err(error) => Err(crate::workflows::availability::with_alternatives(
            &state, error, &kind, around, now,
        )
        .await),
    }
}
