//! The OpenAPI 3.1 description, generated from the handlers' annotations and
//! the response types themselves, served at `/api/v1/openapi.json`, with a
//! Swagger UI whose assets are built into the binary at `/docs`.

use serde::Serialize;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, ToSchema};

use crate::availability::{DayAvailability, SlotAvailability};
use crate::error::SlotOffer;
use crate::routes;

/// A booking request (JSON, or an HTML form with the same field names).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "email": "taro@example.jp",
    "phone": "090-1234-5678", "start": "2026-12-01T10:00", "type": "consultation",
    "first_visit": true, "message": "右膝が痛みます。", "consent": true
}))]
pub struct BookingRequest {
    /// The patient's name, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The reading of the name in katakana or hiragana.
    #[schema(max_length = 100)]
    pub name_kana: Option<String>,
    #[schema(max_length = 254)]
    pub email: String,
    /// A Japanese number, with or without hyphens, full-width digits or `+81`.
    #[schema(max_length = 40)]
    pub phone: String,
    /// RFC 3339 with any offset, or `YYYY-MM-DDTHH:MM` read as clinic time.
    pub start: String,
    /// A consultation type code (default `consultation`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub first_visit: Option<bool>,
    #[schema(max_length = 2000)]
    pub message: Option<String>,
    /// Consent to the handling of personal and health information: must be true.
    #[schema(schema_with = must_be_true)]
    pub consent: bool,
    /// The article the visitor came from.
    #[schema(max_length = 100)]
    pub source: Option<String>,
}

/// A boolean that only `true` satisfies (consent).
fn must_be_true() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// A new start for an existing booking.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"start": "2026-12-02T15:00"}))]
pub struct RescheduleRequest {
    /// RFC 3339 with any offset, or `YYYY-MM-DDTHH:MM` read as clinic time.
    pub start: String,
}

/// One invalid field of a problem.
#[derive(Serialize, ToSchema)]
pub struct ProblemFieldError {
    pub field: String,
    /// Stable, machine-readable: `required`, `invalid_email`, `closed_day`, ...
    pub code: String,
    /// For people: Japanese, or English with `Accept-Language: en`.
    pub message: String,
}

/// An RFC 9457 problem (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub errors: Vec<ProblemFieldError>,
    /// With `slot_unavailable`: up to three nearest free starts.
    pub alternatives: Option<Vec<SlotOffer>>,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub status: String,
}

/// Links from a new booking to what its holder can do with it, so clients
/// (and stateful API tests) can follow them.
struct BookingLinks;

impl Modify for BookingLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let created = openapi
            .paths
            .paths
            .get_mut("/api/v1/bookings")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.responses.responses.get_mut("201"));
        let Some(RefOr::T(created)) = created else {
            return;
        };
        for (name, operation_id) in [
            ("GetBooking", "getBooking"),
            ("CancelBooking", "cancelBooking"),
            ("RescheduleBooking", "rescheduleBooking"),
        ] {
            created.links.insert(
                name.to_string(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id(operation_id)
                        .parameter("reference", "$response.body#/reference")
                        .parameter("token", "$response.body#/manage_token")
                        .build(),
                ),
            );
        }
    }
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "manage_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The booking's manage token from its confirmation (also accepted as ?token=).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "staff_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A staff token from `clinic-booking staff-token create`.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "clinic-booking",
        description = "Reservation and inquiry API of N2クリニック銀座本院. Times are Asia/Tokyo; errors are RFC 9457 problem+json with stable codes."
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::clinic::show,
        routes::availability::list,
        routes::bookings::create,
        routes::bookings::show,
        routes::bookings::cancel,
        routes::bookings::reschedule,
        routes::staff::privacy::erase_booking,
        routes::staff::privacy::erase_inquiry,
    ),
    components(schemas(
        BookingRequest,
        RescheduleRequest,
        Problem,
        ProblemFieldError,
        SlotOffer,
        Status,
        DayAvailability,
        SlotAvailability,
        routes::bookings::BookingView,
        routes::clinic::ClinicInfo,
        routes::availability::AvailabilityResponse,
    )),
    modifiers(&SecuritySchemes, &BookingLinks),
    tags(
        (name = "public", description = "The clinic website and API callers"),
        (name = "operations", description = "Health and readiness"),
        (name = "staff", description = "Clinic staff, with a staff token"),
    )
)]
pub struct ApiDoc;

/// The document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
