//! `GET /api/v1/clinic`: what the forms render from.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::schedule::weekday_name;
use crate::startup::AppState;

pub async fn show(state: web::Data<AppState>) -> HttpResponse {
    let clinic = &state.settings.clinic;
    let calendar = &state.calendar;
    let types: Vec<_> = calendar
        .consultation_types()
        .iter()
        .map(|kind| {
            json!({
                "code": kind.code,
                "label": kind.label,
                "label_en": kind.label_en,
                "duration_minutes": kind.duration_minutes,
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "name": clinic.name,
        "address": clinic.address,
        "phone": clinic.phone,
        "website": clinic.website,
        "timezone": clinic.timezone,
        "hours": {
            "open": calendar.open_time().format("%H:%M").to_string(),
            "close": calendar.close_time().format("%H:%M").to_string(),
        },
        "closed_weekdays": calendar.closed_weekdays().iter().map(|d| weekday_name(*d)).collect::<Vec<_>>(),
        "closed_on_national_holidays": state.settings.schedule.closed_on_national_holidays,
        "slot_minutes": calendar.slot_minutes(),
        "capacity_per_slot": calendar.capacity_per_slot(),
        "booking_window_days": calendar.booking_window_days(),
        "min_notice_minutes": state.settings.schedule.min_notice_minutes,
        "default_type": calendar.default_type().code,
        "consultation_types": types,
    }))
}
