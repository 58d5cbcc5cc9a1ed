//! `GET /api/v1/staff/outbox?status=&limit=&after=`: what became of the
//! clinic's emails (delivered, waiting, failed for good, held back by the
//! per-recipient cap), so staff can phone a patient whose confirmation
//! never arrived. Summaries only: never an address or a body.
//! `POST /api/v1/staff/outbox/{id}/retry` sends a failed one again.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::page::{self, Cursor, PageRequest};
use super::StaffAuth;
use crate::db::outbox::{self, status, OutboxSummary};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;

/// Every status a message can be in.
const STATUSES: [&str; 5] = [
    status::PENDING,
    status::SENT,
    status::FAILED,
    status::SUPPRESSED,
    status::CANCELLED,
];

/// One email as staff see it: what it was, for which booking or inquiry,
/// and where its delivery stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxView {
    pub id: i64,
    /// What the message is, e.g. `booking_confirmed`, `booking_reminder`,
    /// `inquiry_received`.
    pub kind: String,
    /// `patient` or `clinic` (the clinic's own inbox).
    pub audience: String,
    /// The booking or inquiry it is about.
    pub reference: String,
    /// `pending`, `sent`, `failed`, `suppressed` or `cancelled`.
    pub status: String,
    pub attempts: i32,
    /// When it is tried next (only while `pending`).
    pub next_attempt_at: Option<String>,
    /// The mail server's last answer, with addresses removed.
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub sent_at: Option<String>,
}

impl OutboxView {
    pub fn of(state: &AppState, message: &OutboxSummary) -> Self {
        let at = |t: chrono::NaiveDateTime| rfc3339(state.calendar.local(t));
        OutboxView {
            id: message.id,
            kind: message.kind.clone(),
            audience: message.audience.clone(),
            reference: message.reference.clone(),
            status: message.status.clone(),
            attempts: message.attempts,
            next_attempt_at: (message.status == status::PENDING)
                .then(|| at(message.next_attempt_at)),
            last_error: message.last_error.clone(),
            created_at: at(message.created_at),
            updated_at: at(message.updated_at),
            sent_at: message.sent_at.map(at),
        }
    }

    /// The messages of one booking or inquiry, oldest first, read in the
    /// caller's transaction.
    pub fn for_reference(
        conn: &mut crate::db::DbConnection,
        state: &AppState,
        reference: &str,
    ) -> Result<Vec<Self>, ApiError> {
        Ok(outbox::for_reference(conn, reference)?
            .iter()
            .map(|message| OutboxView::of(state, message))
            .collect())
    }
}

/// A page of the outbox, and how many messages are in each status overall.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutboxList {
    pub items: Vec<OutboxView>,
    /// The next page, or null on the last one.
    pub next: Option<String>,
    /// Messages per status, over the whole outbox (every status listed).
    pub counts: BTreeMap<String, i64>,
}

/// `GET /api/v1/staff/outbox`: newest first.
#[utoipa::path(get, path = "/api/v1/staff/outbox", operation_id = "staffListOutbox", tag = "staff",
    params(
        ("status" = Option<String>, Query, description = "Only messages in this status: `failed`, `pending`, `sent`, `suppressed` or `cancelled`"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size (default 100)"),
        ("after" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]+$", description = "The cursor of the `next` URL"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Newest first, without addresses or bodies", body = OutboxList),
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
            STATUSES
                .into_iter()
                .find(|known| *known == raw)
                .ok_or_else(|| ApiError::Validation(vec![FieldError::new("status", "invalid")]))?,
        ),
    };
    let page = PageRequest::from_query(get("limit"), get("after"))?;
    let before =
        match &page.after {
            Some(cursor) => Some(cursor.key.parse::<i64>().map_err(|_| {
                ApiError::bad_request(Some("after"), "after is not a valid cursor.")
            })?),
            None => None,
        };
    let fetch = page.fetch();
    let (rows, counted) = state
        .db
        .read(move |conn| {
            let rows = outbox::page(conn, wanted, before, fetch)?;
            Ok((rows, outbox::count_by_status(conn)?))
        })
        .await?;
    let (rows, next) = page.split(rows, |row| Cursor {
        at: row.created_at,
        key: row.id.to_string(),
    });
    let mut counts: BTreeMap<String, i64> = STATUSES
        .iter()
        .map(|status| (status.to_string(), 0))
        .collect();
    counts.extend(counted);
    let list = OutboxList {
        items: rows.iter().map(|row| OutboxView::of(&state, row)).collect(),
        next: page::next_url(&state, &req, next),
        counts,
    };
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(list))
}

/// `POST /api/v1/staff/outbox/{id}/retry`: a failed message goes back in
/// the queue, due at once, with a fresh retry window (`mail.retry_for_hours`)
/// once the mail server is fixed, or the address corrected at the provider.
/// Audited under the token's label.
#[utoipa::path(post, path = "/api/v1/staff/outbox/{id}/retry", operation_id = "staffRetryOutboxMessage", tag = "staff",
    params(("id" = i64, Path, description = "The message's `id` from the outbox list")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "Queued again: the message, now `pending`", body = OutboxView),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 404, description = "No message has this id", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The message is not `failed` (code `not_failed` on `status`): it is waiting, sent, suppressed or withdrawn, and nothing changed", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    auth: StaffAuth,
    id: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let actor = auth.actor();
    // An announced write: it wakes an idle mail delivery.
    let message = state
        .db
        .write(move |conn| {
            crate::workflows::outbox_retry::requeue(conn, id, &actor, chrono::Utc::now())
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(OutboxView::of(&state, &message)))
}
