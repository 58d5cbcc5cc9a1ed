//! Staff inquiries: list the newest first, view one (with its mail), and
//! change its status or staff note. Every read and change is audited.

use std::collections::HashMap;

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::outbox::OutboxView;
use super::page::{self, Cursor, PageRequest};
use super::patch;
use super::StaffAuth;
use crate::db::inquiries::{InquiryFilter, InquiryRow};
use crate::domain::{Fields, InquiryCategory, InquiryStatus};
use crate::error::ApiError;
use crate::routes::input::read_submission;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::workflows;
use crate::workflows::inquiries::InquiryChange;
use crate::workflows::staff_reads;

/// An inquiry as staff see it: everything the sender gave, where they came
/// from, the consent they gave and the staff note.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffInquiryView {
    pub reference: String,
    /// `received`, `in_progress` or `closed`.
    pub status: String,
    /// `general`, `treatment`, `reservation` or `other`.
    pub category: String,
    pub category_label: String,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub message: String,
    /// The article the sender came from.
    pub source: Option<String>,
    pub staff_note: Option<String>,
    pub consent_at: String,
    pub consent_version: String,
    pub created_at: String,
    pub updated_at: String,
    /// The acknowledgement and the clinic's copy, and how their delivery
    /// stands (only when one inquiry is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<Vec<OutboxView>>,
}

impl StaffInquiryView {
    pub fn of(state: &AppState, row: &InquiryRow) -> Self {
        let at = |t: chrono::NaiveDateTime| rfc3339(state.calendar.local(t));
        StaffInquiryView {
            reference: row.reference.clone(),
            status: row.status.clone(),
            category: row.category.clone(),
            category_label: InquiryCategory::parse(&row.category)
                .map(|category| category.label().to_string())
                .unwrap_or_else(|| row.category.clone()),
            name: row.name.clone(),
            email: row.email.clone(),
            phone: row.phone.clone(),
            message: row.message.clone(),
            source: row.source.clone(),
            staff_note: row.staff_note.clone(),
            consent_at: at(row.consent_at),
            consent_version: row.consent_version.clone(),
            created_at: at(row.created_at),
            updated_at: at(row.updated_at),
            mail: None,
        }
    }
}

/// The shape of the list (written by `page::respond`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct InquiryList {
    pub items: Vec<StaffInquiryView>,
    /// The next page, or null on the last one.
    pub next: Option<String>,
}

/// The fields a staff PATCH may carry (any other is `unknown_field`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "in_progress", "staff_note": "2026-12-01 折り返し電話済み"}))]
pub struct InquiryPatch {
    /// `received`, `in_progress` or `closed`.
    pub status: Option<String>,
    /// At most 2000 characters; null or blank clears it.
    #[schema(max_length = 2000)]
    pub staff_note: Option<String>,
}

/// `GET /api/v1/staff/inquiries?status=&category=&limit=&after=`: the
/// newest first (by `created_at`), so the desk sees what just came in.
/// `status` and `category` take one value or several separated by commas.
#[utoipa::path(get, path = "/api/v1/staff/inquiries", operation_id = "staffListInquiries", tag = "staff",
    params(
        ("status" = Option<String>, Query, description = "`received`, `in_progress`, `closed`, or several separated by commas"),
        ("category" = Option<String>, Query, description = "`general`, `treatment`, `reservation`, `other`, or several separated by commas"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size (default 100)"),
        ("after" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$", description = "The cursor of the `next` URL"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Newest first", body = InquiryList),
        (status = 400, description = "Malformed query or cursor", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown `status` or `category`, or a `limit` out of range (`invalid`)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    auth: StaffAuth,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let get = |name: &str| query.get(name).map(String::as_str);
    let statuses = page::parse_list("status", get("status"), InquiryStatus::parse)?;
    let categories = page::parse_list("category", get("category"), InquiryCategory::parse)?;
    let page = PageRequest::from_query(get("limit"), get("after"))?;
    let filter = InquiryFilter {
        statuses,
        categories,
        after: page.after.clone().map(|cursor| (cursor.at, cursor.key)),
        limit: page.limit,
    };
    let actor = auth.actor();
    let listed = state
        .db
        .write(move |conn| staff_reads::list_inquiries(conn, filter, &actor, Utc::now()))
        .await?;
    let next = listed
        .rows
        .last()
        .filter(|_| listed.more)
        .map(|row| Cursor {
            at: row.created_at,
            key: row.reference.clone(),
        });
    let rows = listed.rows;
    let items: Vec<StaffInquiryView> = rows
        .iter()
        .map(|row| StaffInquiryView::of(&state, row))
        .collect();
    Ok(page::respond(&items, page::next_url(&state, &req, next)))
}

/// One inquiry with its mail, read in the caller's transaction.
fn full_view(
    conn: &mut crate::db::DbConnection,
    state: &AppState,
    row: &InquiryRow,
) -> Result<StaffInquiryView, ApiError> {
    let mut view = StaffInquiryView::of(state, row);
    view.mail = Some(OutboxView::for_reference(conn, state, &row.reference)?);
    Ok(view)
}

fn private_json(view: &StaffInquiryView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(view)
}

/// `GET /api/v1/staff/inquiries/{reference}`
#[utoipa::path(get, path = "/api/v1/staff/inquiries/{reference}", operation_id = "staffGetInquiry", tag = "staff",
    params(("reference" = String, Path, description = "The inquiry reference, e.g. K7QM-3XWD")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The inquiry, with its mail", body = StaffInquiryView),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such inquiry", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
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
            let row = staff_reads::view_inquiry(conn, &reference, &actor, Utc::now())?;
            full_view(conn, &work_state, &row)
        })
        .await?;
    Ok(private_json(&view))
}

/// Fields a staff PATCH may carry; anything else is refused, never ignored.
const PATCHABLE: [&str; 2] = ["status", "staff_note"];

/// Reads a PATCH body into a change, reporting every bad field at once.
fn parse_change(fields: &Fields) -> Result<InquiryChange, ApiError> {
    let mut errors = patch::unknown_fields(fields, &PATCHABLE);
    let change = InquiryChange {
        status: patch::status(fields, &mut errors, InquiryStatus::parse),
        staff_note: patch::staff_note(fields, &mut errors),
    };
    if errors.is_empty() {
        Ok(change)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// `PATCH /api/v1/staff/inquiries/{reference}` with `status` and/or
/// `staff_note`; the change is all or nothing.
#[utoipa::path(patch, path = "/api/v1/staff/inquiries/{reference}", operation_id = "staffUpdateInquiry", tag = "staff",
    params(("reference" = String, Path, description = "The inquiry reference, e.g. K7QM-3XWD")),
    security(("staff_token" = [])),
    request_body(content(
        (InquiryPatch = "application/json"),
        (InquiryPatch = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "The changed inquiry, with its mail", body = StaffInquiryView),
        (status = 400, description = "Malformed body", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such inquiry", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`unknown_field` for any other field, `invalid` status, `too_long` note (all at once)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    auth: StaffAuth,
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let reference = reference.into_inner();
    // An unknown inquiry is a 404 whatever the body says.
    let lookup = reference.clone();
    state
        .db
        .read(move |conn| workflows::inquiries::find_for_staff(conn, &lookup))
        .await?;
    let submission = read_submission(&req, payload, state.settings.server.body_limit_bytes).await?;
    let change = parse_change(&submission.fields)?;
    let work_state = state.clone();
    let actor = auth.actor();
    let view = state
        .db
        .write(move |conn| {
            let row = workflows::inquiries::change_by_staff(
                conn,
                &reference,
                change,
                &actor,
                Utc::now(),
            )?;
            full_view(conn, &work_state, &row)
        })
        .await?;
    Ok(private_json(&view))
}
