//! The patient's bookings: create, view, cancel and reschedule (with the
//! manage token from the confirmation).

use actix_web::http::header::{HeaderValue, CACHE_CONTROL, LOCATION};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::idempotency::{answer_once, create_once, Answer, Created, IdempotentRequest};
use super::input::{idempotency_key, read_submission};
use super::presented_tokens;
use crate::db::bookings::BookingRow;
use crate::domain::{body_limit_for, Booker, NewBooking, SlotStart, SHORT_FIELD_CHARS};
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::workflows::booking::{self, TokenWindow};
use crate::workflows::questionnaire;

/// A booking as the patient sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingView {
    pub reference: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub type_label: String,
    pub start: String,
    pub end: String,
    pub name: String,
    pub name_kana: Option<String>,
    pub email: String,
    pub phone: String,
    pub first_visit: Option<bool>,
    pub message: Option<String>,
    /// Only in the answer to the booking's creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_url: Option<String>,
    /// The secret of `manage_url`, for `Authorization: Bearer`; only in the
    /// answer to the booking's creation (it is stored only as a hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_token: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Who sees the patient, for a type with practitioners; else null.
    pub practitioner: Option<PractitionerRef>,
    /// The intake questionnaire: `pending` (still to be answered through
    /// the manage link) or `answered`; null for a type without one.
    #[schema(value_type = Option<String>, example = "pending")]
    pub questionnaire: Option<&'static str>,
}

/// A practitioner as a booking names them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PractitionerRef {
    pub code: String,
    pub label: String,
}

impl PractitionerRef {
    /// The booking's practitioner, labelled as configured (by its code when
    /// the configuration no longer has them).
    pub fn of(state: &AppState, row: &BookingRow) -> Option<Self> {
        let code = row.practitioner.as_deref()?;
        let label = state
            .resources
            .find(code)
            .map_or_else(|| code.to_string(), |(_, resource)| resource.label.clone());
        Some(PractitionerRef {
            code: code.to_string(),
            label,
        })
    }
}

impl BookingView {
    pub fn of(state: &AppState, row: &BookingRow, manage_token: Option<&str>) -> Self {
        let calendar = &state.calendar;
        BookingView {
            reference: row.reference.clone(),
            status: row.status.as_str().to_string(),
            kind: row.type_code.clone(),
            type_label: booking::kind_of(state, row).label.clone(),
            start: rfc3339(calendar.local(row.start_at)),
            end: rfc3339(calendar.local(row.end_at)),
            name: row.name.clone(),
            name_kana: row.name_kana.clone(),
            email: row.email.clone(),
            phone: row.phone.clone(),
            first_visit: row.first_visit,
            message: row.message.clone(),
            manage_url: manage_token.map(|token| state.manage_url(&row.reference, token)),
            manage_token: manage_token.map(str::to_string),
            created_at: rfc3339(calendar.local(row.created_at)),
            updated_at: rfc3339(calendar.local(row.updated_at)),
            practitioner: PractitionerRef::of(state, row),
            questionnaire: questionnaire::status_of(row, false),
        }
    }

    /// The view with the questionnaire answered (`true`) or not.
    pub fn answered(mut self, row: &BookingRow, answered: bool) -> Self {
        self.questionnaire = questionnaire::status_of(row, answered);
        self
    }
}

fn private_json(view: &BookingView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(view)
}

/// `POST /api/v1/bookings`
#[utoipa::path(post, path = "/api/v1/bookings", operation_id = "createBooking", tag = "public",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", max_length = 255,
        description = "Retries with the same key and body get the first response")),
    request_body(content(
        (crate::routes::openapi::BookingRequest = "application/json"),
        (crate::routes::openapi::BookingRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "Booked", body = BookingView,
            headers(("Location" = String, description = "The booking's URL"))),
        (status = 400, description = "Malformed body or Idempotency-Key", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`cross_site_request`: a browser POST from another site's page", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slot_unavailable`, with `alternatives`; or `too_many_active_bookings` (on `email`): the patient already holds `booking.max_active_per_contact` confirmed bookings still ahead", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them), or `idempotency_key_reused`", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let submission = read_submission(
        &req,
        payload,
        state
            .settings
            .server
            .body_limit_bytes
            .max(NewBooking::MAX_BODY_BYTES),
    )
    .await?;
    let now = Utc::now();
    let new_booking = NewBooking::parse(&submission.fields, &state.calendar, now)
        .map_err(ApiError::Validation)?;
    let (kind, around) = (new_booking.kind.clone(), new_booking.start.at());
    let request = IdempotentRequest {
        scope: "bookings".into(),
        key,
        fingerprint: submission.fingerprint,
    };
    let prepared = booking::prepare(&state, &new_booking, now)?;
    let work_state = state.clone();
    let response = create_once(&state, request, move |conn| {
        let booked = booking::book(conn, &work_state, &new_booking, prepared, now)?;
        let view = BookingView::of(&work_state, &booked.row, Some(booked.manage_token.expose()))
            .answered(&booked.row, new_booking.answers.is_some());
        Ok(Created {
            location: format!("/api/v1/bookings/{}", booked.row.reference),
            body: serde_json::to_string(&view).map_err(anyhow::Error::from)?,
        })
    })
    .await;
    match response {
        Ok(mut response) => {
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let replayed = response.headers().contains_key("idempotent-replayed");
            let created = response
                .headers()
                .get(LOCATION)
                .and_then(|location| location.to_str().ok())
                .and_then(|location| location.strip_prefix("/api/v1/bookings/"));
            if let Some(reference) = created.filter(|_| !replayed) {
                super::bursts::note_booking(&req, reference);
            }
            Ok(response)
        }
        Err(error) => Err(crate::workflows::availability::with_alternatives(
            &state, error, &kind, around, now,
        )
        .await),
    }
}

/// `GET /api/v1/bookings/{reference}`
#[utoipa::path(get, path = "/api/v1/bookings/{reference}", operation_id = "getBooking", tag = "public",
    params(
        ("reference" = String, Path, description = "The booking reference, e.g. K7QM-3XWD"),
        ("token" = Option<String>, Query, description = "The manage token (or send it as Authorization: Bearer)"),
    ),
    security((), ("manage_token" = [])),
    responses(
        (status = 200, description = "The booking", body = BookingView),
        (status = 404, description = "Unknown reference, or a missing, wrong or expired token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
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
    let (row, answered) = state
        .db
        .read(move |conn| {
            let row = booking::find_with_any_token(conn, &reference, &tokens, window)?;
            let answered = questionnaire::is_answered(conn, &row.reference)?;
            Ok((row, answered))
        })
        .await?;
    Ok(private_json(
        &BookingView::of(&state, &row, None).answered(&row, answered),
    ))
}

/// `POST /api/v1/bookings/{reference}/cancel`
#[utoipa::path(post, path = "/api/v1/bookings/{reference}/cancel", operation_id = "cancelBooking", tag = "public",
    params(
        ("reference" = String, Path, description = "The booking reference, e.g. K7QM-3XWD"),
        ("token" = Option<String>, Query, description = "The manage token (or send it as Authorization: Bearer)"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", max_length = 255,
            description = "Retries with the same key get the first response"),
    ),
    security((), ("manage_token" = [])),
    responses(
        (status = 200, description = "Cancelled (also when it already was)", body = BookingView),
        (status = 400, description = "Malformed Idempotency-Key", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`cross_site_request`: a browser POST from another site's page", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown reference, or a missing, wrong or expired token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 422, description = "`invalid_status` (completed), `too_late` (started) or `change_deadline_passed` (after the type's change deadline; the problem carries `deadline` and the clinic's `phone`)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tokens = presented_tokens(&req);
    let key = idempotency_key(&req)?;
    let now = Utc::now();
    let window = TokenWindow::at(&state.settings, now);
    // Authorise first: a remembered answer is only for the token's holder.
    let reference = authorised(&state, reference.into_inner(), tokens.clone(), window).await?;
    let request = IdempotentRequest {
        scope: format!("bookings/{reference}/cancel"),
        key,
        fingerprint: String::new(),
    };
    let work_state = state.clone();
    answer_once(&state, request, move |conn| {
        let row = booking::find_with_any_token(conn, &reference, &tokens, window)?;
        let row = booking::cancel_by_patient(conn, &work_state, row, now)?;
        view_answer(conn, &work_state, &row)
    })
    .await
}

/// The reference of the booking one of `tokens` opens, or the 404 of a
/// stranger.
async fn authorised(
    state: &web::Data<AppState>,
    reference: String,
    tokens: Vec<String>,
    window: TokenWindow,
) -> Result<String, ApiError> {
    let row = state
        .db
        .read(move |conn| booking::find_with_any_token(conn, &reference, &tokens, window))
        .await?;
    Ok(row.reference)
}

fn view_answer(
    conn: &mut crate::db::DbConnection,
    state: &AppState,
    row: &BookingRow,
) -> Result<Answer, ApiError> {
    let answered = questionnaire::is_answered(conn, &row.reference)?;
    let view = BookingView::of(state, row, None).answered(row, answered);
    Ok(Answer::ok(
        serde_json::to_string(&view).map_err(anyhow::Error::from)?,
    ))
}

/// `POST /api/v1/bookings/{reference}/reschedule` with `{"start"}`.
#[utoipa::path(post, path = "/api/v1/bookings/{reference}/reschedule", operation_id = "rescheduleBooking", tag = "public",
    params(
        ("reference" = String, Path, description = "The booking reference, e.g. K7QM-3XWD"),
        ("token" = Option<String>, Query, description = "The manage token (or send it as Authorization: Bearer)"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", max_length = 255,
            description = "Retries with the same key and body get the first response"),
    ),
    security((), ("manage_token" = [])),
    request_body(content(
        (crate::routes::openapi::RescheduleRequest = "application/json"),
        (crate::routes::openapi::RescheduleRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Moved", body = BookingView),
        (status = 400, description = "Malformed body or Idempotency-Key", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`cross_site_request`: a browser POST from another site's page", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`slot_unavailable`, with `alternatives`", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Same rules and codes as a new booking; `invalid_status` when not confirmed; `change_deadline_passed` after the type's change deadline; `idempotency_key_reused`", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown reference, or a missing, wrong or expired token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn reschedule(
    req: HttpRequest,
    reference: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tokens = presented_tokens(&req);
    let key = idempotency_key(&req)?;
    let reference = reference.into_inner();
    let now = Utc::now();
    let window = TokenWindow::at(&state.settings, now);
    // Authorise before reading what is asked, so a stranger learns nothing.
    let lookup_tokens = tokens.clone();
    let lookup_reference = reference.clone();
    let current = state
        .db
        .read(move |conn| {
            booking::find_with_any_token(conn, &lookup_reference, &lookup_tokens, window)
        })
        .await?;
    // A start, and room for a client's extra fields.
    let limit = body_limit_for(2 * SHORT_FIELD_CHARS);
    let submission = read_submission(
        &req,
        payload,
        state.settings.server.body_limit_bytes.max(limit),
    )
    .await?;
    booking::ensure_not_started(&current, now)?;
    let kind = booking::kind_of(&state, &current).clone();
    let raw_start = submission
        .fields
        .text("start")
        .map_err(|e| ApiError::Validation(vec![e]))?;
    let start = SlotStart::parse(raw_start, &kind, &state.calendar, now, Booker::Patient)
        .map_err(|e| ApiError::Validation(vec![e]))?;
    let request = IdempotentRequest {
        scope: format!("bookings/{}/reschedule", current.reference),
        key,
        fingerprint: submission.fingerprint,
    };
    let work_state = state.clone();
    let work_kind = kind.clone();
    let moved = answer_once(&state, request, move |conn| {
        let row = booking::find_with_any_token(conn, &reference, &tokens, window)?;
        let row = booking::reschedule(conn, &work_state, row, start, &work_kind, now)?;
        view_answer(conn, &work_state, &row)
    })
    .await;
    match moved {
        Ok(response) => Ok(response),
        Err(error) => Err(crate::workflows::availability::with_alternatives(
            &state,
            error,
            &kind,
            start.at(),
            now,
        )
        .await),
    }
}
