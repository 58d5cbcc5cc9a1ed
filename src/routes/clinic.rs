//! `GET /api/v1/clinic`: what the forms render from.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::questionnaire::{self, Questionnaire};
use crate::schedule::weekday_name;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct OpeningHours {
    /// HH:MM, clinic time.
    pub open: String,
    pub close: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConsultationTypeInfo {
    pub code: String,
    /// Japanese label.
    pub label: String,
    pub label_en: String,
    pub duration_minutes: u32,
    /// The intake questionnaire a booking of this type asks (its newest
    /// version), or null.
    #[schema(value_type = Option<Questionnaire>)]
    pub questionnaire: Option<&'static Questionnaire>,
}

/// The clinic and the rules of its calendar.
#[derive(Serialize, ToSchema)]
pub struct ClinicInfo {
    pub name: String,
    pub address: String,
    pub phone: String,
    pub website: String,
    pub timezone: String,
    pub hours: OpeningHours,
    pub closed_weekdays: Vec<String>,
    pub closed_on_national_holidays: bool,
    pub slot_minutes: u32,
    pub capacity_per_slot: u32,
    pub booking_window_days: i64,
    pub min_notice_minutes: i64,
    pub default_type: String,
    pub consultation_types: Vec<ConsultationTypeInfo>,
}

#[utoipa::path(get, path = "/api/v1/clinic", operation_id = "getClinic", tag = "public",
    responses((status = 200, description = "The clinic, its hours and consultation types", body = ClinicInfo)))]
pub async fn show(state: web::Data<AppState>) -> HttpResponse {
    let clinic = &state.settings.clinic;
    let calendar = &state.calendar;
    HttpResponse::Ok().json(ClinicInfo {
        name: clinic.name.clone(),
        address: clinic.address.clone(),
        phone: clinic.phone.clone(),
        website: clinic.website.clone(),
        timezone: clinic.timezone.clone(),
        hours: OpeningHours {
            open: calendar.open_time().format("%H:%M").to_string(),
            close: calendar.close_time().format("%H:%M").to_string(),
        },
        closed_weekdays: calendar
            .closed_weekdays()
            .iter()
            .map(|day| weekday_name(*day).to_string())
            .collect(),
        closed_on_national_holidays: state.settings.schedule.closed_on_national_holidays,
        slot_minutes: calendar.slot_minutes(),
        capacity_per_slot: calendar.capacity_per_slot(),
        booking_window_days: calendar.booking_window_days(),
        min_notice_minutes: state.settings.schedule.min_notice_minutes,
        default_type: calendar.default_type().code.clone(),
        consultation_types: calendar
            .consultation_types()
            .iter()
            .map(|kind| ConsultationTypeInfo {
                code: kind.code.clone(),
                label: kind.label.clone(),
                label_en: kind.label_en.clone(),
                duration_minutes: kind.duration_minutes,
                questionnaire: questionnaire::current_for(&kind.code),
            })
            .collect(),
    })
}
