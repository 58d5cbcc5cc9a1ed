//! `GET /api/v1/practitioners`: who may be named for a booking, and for
//! which consultation types.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PractitionerView {
    pub code: String,
    pub label: String,
    pub label_en: String,
    /// The consultation types they take.
    pub types: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PractitionerList {
    pub items: Vec<PractitionerView>,
}

#[utoipa::path(get, path = "/api/v1/practitioners", operation_id = "listPractitioners", tag = "public", responses(
    (status = 200, description = "The practitioners, in the clinic's order (none when none are configured)", body = PractitionerList),
))]
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let types = state.calendar.consultation_types();
    let items = state
        .resources
        .practitioners()
        .map(|resource| PractitionerView {
            code: resource.code.clone(),
            label: resource.label.clone(),
            label_en: resource.label_en.clone(),
            types: state
                .resources
                .types_of(&resource.code, types)
                .into_iter()
                .map(str::to_string)
                .collect(),
        })
        .collect();
    HttpResponse::Ok().json(PractitionerList { items })
}
