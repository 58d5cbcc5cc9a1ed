//! `GET /api/v1/staff/webhooks/deliveries?status=&limit=&after=`: what
//! became of the webhooks (delivered, waiting for a retry, failed for
//! good), and `POST .../{id}/retry`: send one again.

use std::collections::HashMap;

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::page::{self, Cursor, PageRequest};
use super::StaffAuth;
use crate::db::webhooks::{self as store, DeliveryRow};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::webhooks::status;

/// One webhook message to one receiver (never its body: it may carry
/// personal data).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt.
    pub webhook_id: String,
    /// The event, e.g. `booking.created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The receiver.
    pub url: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The HTTP status of the last answer; null before the first attempt
    /// or when the last one got none (connection refused, timeout).
    pub last_status: Option<i32>,
    /// When a receiver last answered 2xx.
    pub delivered_at: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// The booking or inquiry it is about.
    pub reference: String,
    /// What went wrong last (no answer, or the answer's status).
    pub last_error: Option<String>,
    /// When it is tried next (only while `pending`).
    pub next_attempt_at: Option<String>,
    pub created_at: String,
}

impl DeliveryView {
    fn of(state: &AppState, row: &DeliveryRow) -> Self {
        let at = |t: chrono::NaiveDateTime| rfc3339(state.calendar.local(t));
        DeliveryView {
            id: row.id,
            webhook_id: row.webhook_id.clone(),
            kind: row.event_type.clone(),
            url: row.url.clone(),
            attempts: row.attempts,
            last_status: row.last_status,
            delivered_at: row.delivered_at.map(at),
            status: row.status.clone(),
            reference: row.reference.clone(),
            last_error: row.last_error.clone(),
            next_attempt_at: (row.status == status::PENDING).then(|| at(row.next_attempt_at)),
            created_at: at(row.created_at),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub items: Vec<DeliveryView>,
    /// The URL of the next page, or null on the last.
    pub next: Option<String>,
}

/// `GET /api/v1/staff/webhooks/deliveries`: newest first.
#[utoipa::path(get, path = "/api/v1/staff/webhooks/deliveries", operation_id = "staffListWebhookDeliveries", tag = "staff",
    params(
        ("status" = Option<String>, Query, description = "Only deliveries in this status: `pending`, `delivered` or `failed`"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size (default 100)"),
        ("after" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$", description = "The cursor of the `next` URL"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Newest first, without bodies", body = DeliveryList),
        (status = 400, description = "Malformed query or cursor", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown `status` or a `limit` out of range (`invalid`)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    _auth: StaffAuth,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let get = |name: &str| query.get(name).map(String::as_str);
    let wanted = match get("status").map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(
            status::ALL
                .into_iter()
                .find(|known| *known == raw)
                .ok_or_else(|| ApiError::Validation(vec![FieldError::new("status", "invalid")]))?,
        ),
    };
    let page = PageRequest::from_query(get("limit"), get("after"))?;
    let before = match &page.after {
        Some(cursor) => Some(cursor.key.parse::<i64>().map_err(|_| Cursor::invalid())?),
        None => None,
    };
    let fetch = page.fetch();
    let rows = state
        .db
        .read(move |conn| store::page(conn, wanted, before, fetch))
        .await?;
    let (rows, next) = page.split(rows, |row| Cursor {
        at: row.created_at,
        key: row.id.to_string(),
    });
    let items: Vec<DeliveryView> = rows
        .iter()
        .map(|row| DeliveryView::of(&state, row))
        .collect();
    Ok(page::respond(&items, page::next_url(&state, &req, next)))
}

/// `POST /api/v1/staff/webhooks/deliveries/{id}/retry`: sends a delivery
/// again, whatever its status (also after a success: a receiver that lost
/// it), with the same `webhook-id`, as soon as a worker is free and any
/// earlier delivery of the same booking to the same receiver is done.
#[utoipa::path(post, path = "/api/v1/staff/webhooks/deliveries/{id}/retry", operation_id = "staffRetryWebhookDelivery", tag = "staff",
    params(("id" = i64, Path, description = "The delivery's `id`")),
    security(("staff_token" = [])),
    responses(
        (status = 202, description = "Queued again: the delivery, now `pending`", body = DeliveryView),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such delivery", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    auth: StaffAuth,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    let now = Utc::now();
    let until = state.settings.webhooks.retry_until(now.naive_utc());
    let actor = auth.actor();
    let wake = state.webhooks.clone();
    let row = state
        .db
        .write(move |conn| {
            if !store::retry(conn, id, now.naive_utc(), until)? {
                return Err(ApiError::NotFound);
            }
            let row = store::find(conn, id)?.ok_or(ApiError::NotFound)?;
            let detail = serde_json::json!({"delivery": id, "type": row.event_type});
            crate::workflows::audit::audit(
                conn,
                &actor,
                "webhook.retried",
                &row.reference,
                Some(&detail),
                now,
            )?;
            let _ = crate::db::on_commit(Box::new(move || wake.wake.notify_one()));
            Ok(row)
        })
        .await?;
    tracing::info!(reference = %row.reference, delivery_id = row.id, "webhook queued again by staff");
    Ok(HttpResponse::Accepted()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(DeliveryView::of(&state, &row)))
}
