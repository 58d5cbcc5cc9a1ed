//! Inquiries from the website or any JSON client.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::idempotency::{create_once, Created, IdempotentRequest};
use super::input::{idempotency_key, read_submission};
use crate::domain::NewInquiry;
use crate::error::ApiError;
use crate::schedule::availability::rfc3339;
use crate::state::AppState;
use crate::workflows;

/// What the sender is told: the reference to quote, nothing they sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InquiryReceipt {
    /// Quote it when calling the clinic.
    pub reference: String,
    /// Always `received` for a new inquiry.
    #[schema(example = "received")]
    pub status: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// `POST /api/v1/inquiries`
#[utoipa::path(post, path = "/api/v1/inquiries", operation_id = "createInquiry", tag = "public",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", max_length = 255,
        description = "Retries with the same key and body get the first response")),
    request_body(content(
        (crate::routes::openapi::InquiryRequest = "application/json"),
        (crate::routes::openapi::InquiryRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "Received; acknowledgement and clinic notification are queued", body = InquiryReceipt,
            headers(("Location" = String, description = "Where staff find the inquiry"))),
        (status = 400, description = "Malformed body or Idempotency-Key", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`cross_site_request`: a browser POST from another site's page", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`request-in-progress`: a request with the same Idempotency-Key is being stored", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
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
            .max(NewInquiry::MAX_BODY_BYTES),
    )
    .await?;
    let new_inquiry = NewInquiry::parse(&submission.fields).map_err(ApiError::Validation)?;
    let request = IdempotentRequest {
        scope: "inquiries".into(),
        key,
        fingerprint: submission.fingerprint,
    };
    let now = Utc::now();
    let work_state = state.clone();
    create_once(&state, request, move |conn| {
        let row = workflows::inquiries::submit(conn, &work_state, &new_inquiry, now)?;
        let receipt = InquiryReceipt {
            reference: row.reference.clone(),
            status: row.status.clone(),
            created_at: rfc3339(work_state.calendar.local(row.created_at)),
        };
        Ok(Created {
            location: format!("/api/v1/inquiries/{}", row.reference),
            body: serde_json::to_string(&receipt).map_err(anyhow::Error::from)?,
        })
    })
    .await
}
