//! `GET /api/v1/availability?from=&to=&type=`: every slot of every day in a
//! range of at most 62 days.

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use chrono::{Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::FieldError;
use crate::error::ApiError;
use crate::schedule::availability::{days, DayAvailability};
use crate::state::AppState;
use crate::workflows::availability::schedule_with_closures;

pub const MAX_RANGE_DAYS: i64 = 62;
/// How far from today a queried date may be.
const MAX_DISTANCE_DAYS: i64 = 3660;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// First date, YYYY-MM-DD (default: today in the clinic).
    #[param(value_type = Option<chrono::NaiveDate>)]
    from: Option<String>,
    /// Last date, inclusive, at most 62 days after `from` (default: six days after it).
    #[param(value_type = Option<chrono::NaiveDate>)]
    to: Option<String>,
    /// Consultation type code (default: the clinic's default type).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only this practitioner's free slots (a code of `/api/v1/practitioners`
    /// who takes the type); empty or absent: any.
    practitioner: Option<String>,
}

/// Every day of the range with every slot of the open ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityResponse {
    pub timezone: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub from: String,
    pub to: String,
    pub days: Vec<DayAvailability>,
}

fn json_answer(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(body)
}

fn parse_date(field: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            Some(field),
            format!("{field} must be a date as YYYY-MM-DD."),
        )
    })
}

#[utoipa::path(get, path = "/api/v1/availability", operation_id = "getAvailability", tag = "public", params(AvailabilityQuery), responses(
    (status = 200, description = "Slots per day", body = AvailabilityResponse),
    (status = 400, description = "A malformed date", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_range`, `range_too_long`, `out_of_range`, `unknown_type` or `invalid_practitioner`",
        body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<AvailabilityQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let calendar = &state.calendar;
    // Without a range: this week, from today.
    let from = match &query.from {
        Some(raw) => parse_date("from", raw)?,
        None => calendar.today(now),
    };
    // Dates far from today mean nothing to a clinic, and bounding them keeps
    // date arithmetic away from the calendar's limits.
    let today = calendar.today(now);
    let sensible = |date: NaiveDate| (date - today).num_days().abs() <= MAX_DISTANCE_DAYS;
    let mut errors = Vec::new();
    if !sensible(from) {
        errors.push(FieldError::new("from", "out_of_range"));
        return Err(ApiError::Validation(errors));
    }
    let to = match &query.to {
        Some(raw) => parse_date("to", raw)?,
        None => from + Duration::days(6),
    };
    if !sensible(to) {
        errors.push(FieldError::new("to", "out_of_range"));
    } else if to < from {
        errors.push(FieldError::new("to", "invalid_range"));
    } else if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        errors.push(FieldError::new("to", "range_too_long"));
    }
    let kind = match query
        .kind
        .as_deref()
        .map(str::trim)
        .filter(|code| !code.is_empty())
    {
        None => Some(calendar.default_type().clone()),
        Some(code) => calendar.consultation_type(code).cloned(),
    };
    if kind.is_none() {
        errors.push(FieldError::new("type", "unknown_type"));
    }
    let Some(kind) = kind.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let only = crate::workflows::resources::named_practitioner(
        &state,
        &kind,
        query.practitioner.as_deref(),
    )?;
    let key = (
        from,
        to,
        format!("{}|{}", kind.code, only.as_deref().unwrap_or_default()),
    );
    // Read before the database, so a write that lands meanwhile makes this
    // answer stale rather than cached as fresh.
    let generation = state.db.generation();
    if let Some(body) = state.availability_cache.get(&key, generation) {
        return Ok(json_answer(body));
    }
    let days = match crate::workflows::resources::availability_days(
        &state,
        &kind,
        from,
        to,
        only.as_deref(),
        now,
    )
    .await?
    {
        Some(days) => days,
        None => {
            let (calendar, occupancy) = schedule_with_closures(&state, from, to).await?;
            days(&calendar, &kind, from, to, &occupancy, now)
        }
    };
    let answer = AvailabilityResponse {
        timezone: state.settings.clinic.timezone.clone(),
        kind: kind.code.clone(),
        from: from.to_string(),
        to: to.to_string(),
        days,
    };
    let body = Bytes::from(serde_json::to_vec(&answer).map_err(anyhow::Error::from)?);
    state.availability_cache.put(key, generation, body.clone());
    Ok(json_answer(body))
}
