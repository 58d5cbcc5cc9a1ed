//! The waiting list's API: join, view, leave, and accept an offered seat
//! (with the entry's manage token or the offer email's token).

use actix_web::http::header::{HeaderValue, CACHE_CONTROL};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::bookings::BookingView;
use super::idempotency::{answer_once, create_once, Answer, Created, IdempotentRequest};
use super::input::{idempotency_key, read_submission};
use super::presented_tokens;
use crate::domain::NewWaitlistEntry;
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::workflows::waitlist::{self, EntryView};

/// The seat held for an entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfferView {
    pub start: String,
    pub end: String,
    /// When the hold ends (then the seat goes to the next entry).
    pub expires_at: String,
}

/// A waiting-list entry as its patient sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitlistView {
    pub reference: String,
    /// `waiting`, `offered`, `booked`, `expired` or `cancelled`.
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub type_label: String,
    pub date: String,
    /// Earliest start wanted (`HH:MM`, inclusive); null: from opening.
    pub from: Option<String>,
    /// Latest start wanted (`HH:MM`, inclusive); null: until closing.
    pub to: Option<String>,
    pub practitioner: Option<String>,
    pub name: String,
    pub email: String,
    pub phone: String,
    /// The seat held for the entry (status `offered`).
    pub offer: Option<OfferView>,
    /// The booking it became (status `booked`).
    pub booking: Option<BookingRefView>,
    pub offers_made: i32,
    pub created_at: String,
    /// Only in the answer to joining.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manage_url: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingRefView {
    pub reference: String,
}

impl WaitlistView {
    pub fn of(state: &AppState, view: &EntryView, manage_url: Option<String>) -> Self {
        let row = &view.row;
        let calendar = &state.calendar;
        WaitlistView {
            reference: row.reference.clone(),
            status: row.status.clone(),
            kind: row.type_code.clone(),
            type_label: calendar
                .consultation_type(&row.type_code)
                .map_or_else(|| row.type_code.clone(), |kind| kind.label.clone()),
            date: row.wanted_date.to_string(),
            from: row.from_time.clone(),
            to: row.to_time.clone(),
            practitioner: row.practitioner.clone(),
            name: row.name.clone(),
            email: row.email.clone(),
            phone: row.phone.clone(),
            offer: view.offer.as_ref().map(|offer| OfferView {
                start: rfc3339(calendar.local(offer.start_at)),
                end: rfc3339(calendar.local(offer.end_at)),
                expires_at: rfc3339(calendar.local(offer.expires_at)),
            }),
            booking: row
                .booking_reference
                .clone()
                .map(|reference| BookingRefView { reference }),
            offers_made: row.offers_made,
            created_at: rfc3339(calendar.local(row.created_at)),
            manage_url,
        }
    }
}

/// What joining answers: `{"reference", "status", "manage_url"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WaitlistJoined {
    pub reference: String,
    pub status: String,
    pub manage_url: String,
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /api/v1/waitlist`
#[utoipa::path(post, path = "/api/v1/waitlist", operation_id = "joinWaitlist", tag = "public",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", max_length = 255,
        description = "Retries with the same key and body get the first response")),
    request_body(content(
        (crate::routes::openapi::WaitlistRequest = "application/json"),
        (crate::routes::openapi::WaitlistRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "On the list; an acknowledgement with the manage link is mailed", body = WaitlistJoined,
            headers(("Location" = String, description = "The entry's URL"))),
        (status = 400, description = "Malformed body or Idempotency-Key", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`cross_site_request`", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor a form", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (all of them): `required`, `invalid_email`, `invalid_phone`, `unknown_type`, `date` `too_soon`/`too_far_ahead`/`closed_day`, `from`/`to` `invalid`, `to` `invalid_range`, `invalid_practitioner`, `consent_required`; or `idempotency_key_reused`", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
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
            .max(NewWaitlistEntry::MAX_BODY_BYTES),
    )
    .await?;
    let now = state.clock.now();
    let entry = waitlist::parse(&submission.fields, &state, now)?;
    let request = IdempotentRequest {
        scope: "waitlist".into(),
        key,
        fingerprint: submission.fingerprint,
    };
    let work_state = state.clone();
    let response = create_once(&state, request, move |conn| {
        let joined = waitlist::join(conn, &work_state, &entry, now)?;
        let body = WaitlistJoined {
            reference: joined.row.reference.clone(),
            status: joined.row.status.clone(),
            manage_url: work_state
                .waitlist_url(&joined.row.reference, joined.manage_token.expose()),
        };
        Ok(Created {
            location: format!("/api/v1/waitlist/{}", joined.row.reference),
            body: serde_json::to_string(&body).map_err(anyhow::Error::from)?,
        })
    })
    .await?;
    Ok(no_store(response))
}

/// `GET /api/v1/waitlist/{reference}`
#[utoipa::path(get, path = "/api/v1/waitlist/{reference}", operation_id = "getWaitlistEntry", tag = "public",
    params(
        ("reference" = String, Path, description = "The entry's reference"),
        ("token" = Option<String>, Query, description = "The manage token, or the offer email's token (or send it as Authorization: Bearer)"),
    ),
    security((), ("manage_token" = [])),
    responses(
        (status = 200, description = "The entry", body = WaitlistView),
        (status = 404, description = "Unknown reference, or a missing or wrong token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn show(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let tokens = presented_tokens(&req);
    let reference = reference.into_inner();
    let view = state
        .db
        .read(move |conn| {
            let row = waitlist::find_with_token(conn, &reference, &tokens)?;
            waitlist::view(conn, row)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(WaitlistView::of(&state, &view, None)))
}

/// The entry of the path, found by a token the request presents (404
/// otherwise), the tokens, and the idempotent request of `action` on it.
async fn entry_action(
    req: &HttpRequest,
    reference: web::Path<String>,
    state: &AppState,
    action: &str,
) -> Result<(String, Vec<String>, IdempotentRequest), ApiError> {
    let tokens = presented_tokens(req);
    let key = idempotency_key(req)?;
    let lookup = (reference.into_inner(), tokens.clone());
    let reference = state
        .db
        .read(move |conn| waitlist::find_with_token(conn, &lookup.0, &lookup.1))
        .await?
        .reference;
    let request = IdempotentRequest {
        scope: format!("waitlist/{reference}/{action}"),
        key,
        fingerprint: String::new(),
    };
    Ok((reference, tokens, request))
}

/// `POST /api/v1/waitlist/{reference}/cancel`
#[utoipa::path(post, path = "/api/v1/waitlist/{reference}/cancel", operation_id = "leaveWaitlist", tag = "public",
    params(
        ("reference" = String, Path, description = "The entry's reference"),
        ("token" = Option<String>, Query, description = "The manage token (or send it as Authorization: Bearer)"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", max_length = 255,
            description = "Retries with the same key get the first response"),
    ),
    security((), ("manage_token" = [])),
    responses(
        (status = 200, description = "Left the list (also when it already had); a held seat goes to the next entry", body = WaitlistView),
        (status = 400, description = "Malformed Idempotency-Key", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown reference, or a missing or wrong token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_status`: already booked or expired", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (reference, tokens, request) = entry_action(&req, reference, &state, "cancel").await?;
    let now = state.clock.now();
    let work_state = state.clone();
    let response = answer_once(&state, request, move |conn| {
        let row = waitlist::find_with_token(conn, &reference, &tokens)?;
        let row = waitlist::leave(conn, row, now)?;
        let view = waitlist::view(conn, row)?;
        Ok(Answer::ok(
            serde_json::to_string(&WaitlistView::of(&work_state, &view, None))
                .map_err(anyhow::Error::from)?,
        ))
    })
    .await?;
    Ok(no_store(response))
}

/// `POST /api/v1/waitlist/{reference}/accept`
#[utoipa::path(post, path = "/api/v1/waitlist/{reference}/accept", operation_id = "acceptWaitlistOffer", tag = "public",
    params(
        ("reference" = String, Path, description = "The entry's reference"),
        ("token" = Option<String>, Query, description = "The offer email's token or the manage token (or send it as Authorization: Bearer)"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", max_length = 255,
            description = "Retries with the same key get the first response"),
    ),
    security((), ("manage_token" = [])),
    responses(
        (status = 201, description = "Booked: the usual booking answer, with its own manage URL; the confirmation is mailed", body = BookingView,
            headers(("Location" = String, description = "The booking's URL"))),
        (status = 400, description = "Malformed Idempotency-Key", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown reference, or a missing or wrong token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`offer_expired`: no seat is held for the entry (the hold ended, or none was offered)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(
    req: HttpRequest,
    reference: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (reference, tokens, request) = entry_action(&req, reference, &state, "accept").await?;
    let now = state.clock.now();
    let work_state = state.clone();
    let response = create_once(&state, request, move |conn| {
        let row = waitlist::find_with_token(conn, &reference, &tokens)?;
        let booked = waitlist::accept(conn, &work_state, row, now)?;
        let view = BookingView::of(&work_state, &booked.row, Some(booked.manage_token.expose()));
        Ok(Created {
            location: format!("/api/v1/bookings/{}", booked.row.reference),
            body: serde_json::to_string(&view).map_err(anyhow::Error::from)?,
        })
    })
    .await?;
    Ok(no_store(response))
}
