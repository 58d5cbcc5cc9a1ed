//! `GET /api/v1/availability?from=&to=&type=`: every slot of every day in a
//! range of at most 62 days.

use actix_web::{web, HttpResponse};
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::availability::days;
use crate::booking::schedule_with_closures;
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::startup::AppState;

pub const MAX_RANGE_DAYS: i64 = 62;

#[derive(Debug, Deserialize)]
pub struct AvailabilityQuery {
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn parse_date(field: &str, raw: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            Some(field),
            format!("{field} must be a date as YYYY-MM-DD."),
        )
    })
}

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
    let to = match &query.to {
        Some(raw) => parse_date("to", raw)?,
        None => from + Duration::days(6),
    };
    let mut errors = Vec::new();
    if to < from {
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
    let (calendar, occupancy) = schedule_with_closures(&state, from, to).await?;
    Ok(HttpResponse::Ok().json(json!({
        "timezone": state.settings.clinic.timezone,
        "type": kind.code,
        "from": from.to_string(),
        "to": to.to_string(),
        "days": days(&calendar, &kind, from, to, &occupancy, now),
    })))
}
