//! `GET /api/v1/staff/calendar.ics`: the bookings around today as an
//! RFC 5545 feed for the staff's calendar apps. Contact details go only in
//! DESCRIPTION (SUMMARY shows on lock screens and shared displays); what a
//! patient wrote, their answers and the staff's notes never go in the feed
//! (calendar apps copy events to other devices and cloud accounts).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};

use super::auth::authenticate;
use crate::db::bookings::BookingRow;
use crate::db::staff_bookings::{self, BookingFilter};
use crate::error::ApiError;
use crate::ics::{booking_event, calendar_object, Method};
use crate::state::AppState;
use crate::workflows::booking;
use crate::workflows::staff_tokens::StaffScope;

/// The most events one feed carries; a clinic day has at most a few dozen.
const MAX_EVENTS: i64 = 20_000;

fn status_label(row: &BookingRow) -> &'static str {
    row.status.label_ja()
}

fn description(state: &AppState, row: &BookingRow) -> String {
    let mut lines = vec![
        format!("予約番号: {}", row.reference),
        format!("状態: {}", status_label(row)),
    ];
    if let Some(practitioner) = crate::routes::bookings::PractitionerRef::of(state, row) {
        lines.push(format!("担当: {}", practitioner.label));
    }
    lines.push(format!("お名前: {}", row.name));
    if let Some(kana) = &row.name_kana {
        lines.push(format!("フリガナ: {kana}"));
    }
    lines.push(format!("電話: {}", row.phone));
    lines.push(format!("メール: {}", row.email));
    if let Some(first) = row.first_visit {
        lines.push(format!("初診: {}", if first { "はい" } else { "いいえ" }));
    }
    lines.join("\n")
}

/// The feed: every booking starting from `staff.feed_days_back` days before
/// today to `staff.feed_days_ahead` days after, cancelled ones as
/// `STATUS:CANCELLED`; with `?practitioner=CODE`, only that practitioner's
/// bookings (a feed per doctor). The token may come as `?token=` here
/// only, and a `calendar` token opens this route and no other.
#[utoipa::path(get, path = "/api/v1/staff/calendar.ics", operation_id = "getStaffCalendar", tag = "staff",
    params(
        ("token" = Option<String>, Query, description = "A staff token (of either scope; a `calendar` token opens this feed and nothing else), for calendar apps that cannot send headers"),
        ("practitioner" = Option<String>, Query, description = "A practitioner's code (`GET /api/v1/practitioners`): only their bookings. Not a configured practitioner: 422 `invalid_practitioner`"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "An RFC 5545 calendar of the bookings around today", body = String,
            content_type = "text/calendar; charset=utf-8"),
        (status = 401, description = "Missing, wrong or revoked staff token", body = crate::routes::openapi::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 422, description = "`practitioner` is not a configured practitioner (`invalid_practitioner`)", body = crate::routes::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn feed(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&req, StaffScope::Calendar).await?;
    let query = crate::routes::site::query_map(req.query_string());
    let practitioner = match query.get("practitioner").map(|raw| raw.trim()) {
        None | Some("") => None,
        Some(code) => Some(
            state
                .resources
                .practitioner(code)
                .cloned()
                .ok_or_else(|| ApiError::field("practitioner", "invalid_practitioner"))?,
        ),
    };
    let now = Utc::now();
    let calendar = &state.calendar;
    let today = calendar.today(now);
    let first = today - Duration::days(state.settings.staff.feed_days_back.max(0));
    let last = today + Duration::days(state.settings.staff.feed_days_ahead.max(0));
    let (from, to) = crate::schedule::availability::utc_range(calendar, first, last);
    let filter = BookingFilter {
        from: Some(from),
        to: Some(to),
        statuses: Vec::new(),
        after: None,
        limit: MAX_EVENTS,
    };
    let actor = auth.actor();
    let only = practitioner.as_ref().map(|resource| resource.code.clone());
    let rows = state
        .db
        .write(move |conn| {
            let mut rows = staff_bookings::page(conn, &filter)?;
            if let Some(code) = only.as_deref() {
                rows.retain(|row| row.practitioner.as_deref() == Some(code));
            }
            let mut detail = serde_json::json!({"count": rows.len()});
            if let Some(code) = only {
                detail["practitioner"] = code.into();
            }
            crate::db::audit::record(
                conn,
                now.naive_utc(),
                actor.name(),
                "calendar.fetched",
                None,
                Some(&detail.to_string()),
            )?;
            Ok(rows)
        })
        .await?;
    let clinic = &state.settings.clinic;
    let location = format!("{} {}", clinic.name, clinic.address);
    let events = rows
        .iter()
        .map(|row| {
            let summary = format!("{} {}", booking::kind_of(&state, row).label, row.reference);
            let description = description(&state, row);
            booking_event(calendar, row, &summary, &description, &location, now)
        })
        .collect();
    let name = match &practitioner {
        Some(resource) => format!("{} 予約 {}", clinic.name, resource.label),
        None => format!("{} 予約", clinic.name),
    };
    let body = calendar_object(&name, Method::Publish, events);
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/calendar; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .body(body))
}
