//! Inquiries from the website or any JSON client.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::idempotency::{create_once, Created, IdempotentRequest};
use super::input::{idempotency_key, read_submission};
use crate::availability::rfc3339;
use crate::domain::NewInquiry;
use crate::error::ApiError;
use crate::inquiry;
use crate::startup::AppState;

/// What the sender is told: the reference to quote, nothing they sent.
#[derive(Debug, Serialize)]
pub struct InquiryReceipt {
    pub reference: String,
    pub status: String,
    pub created_at: String,
}

/// `POST /api/v1/inquiries`
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let submission = read_submission(&req, payload, state.settings.server.body_limit_bytes).await?;
    let new_inquiry = NewInquiry::parse(&submission.fields).map_err(ApiError::Validation)?;
    let request = IdempotentRequest {
        scope: "inquiries".into(),
        key,
        fingerprint: submission.fingerprint,
    };
    let now = Utc::now();
    let work_state = state.clone();
    create_once(&state.db, request, move |conn| {
        let row = inquiry::submit(conn, &work_state, &new_inquiry, now)?;
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
