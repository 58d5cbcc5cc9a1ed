//! The OpenAPI 3.1 description, generated from the handlers' annotations and
//! the response types themselves, served at `/api/v1/openapi.json`, with a
//! Swagger UI whose assets are built into the binary at `/docs`.

use serde::Serialize;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes;
use crate::schedule::availability::SlotOffer;
use crate::schedule::availability::{DayAvailability, SlotAvailability};

/// A booking request (JSON, or an HTML form with the same field names).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "name": "山田 太郎", "name_kana": "ヤマダ タロウ", "email": "taro@example.jp",
    "phone": "090-1234-5678", "start": "2026-12-01T10:00", "type": "consultation",
    "first_visit": true, "message": "右膝が痛みます。", "consent": true
}))]
pub struct BookingRequest {
    /// The patient's name, 1 to 100 characters. Here, in `name_kana` and
    /// in `message`, bidirectional controls (U+202A–U+202E, U+2066–U+2069)
    /// and invisible characters (U+200B, U+FEFF) are `invalid_characters`.
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
    /// A practitioner's code (`GET /api/v1/practitioners`) for a type that
    /// has practitioners; empty or absent: no preference (one is
    /// assigned). Named for a type without: 422 `invalid_practitioner`.
    pub practitioner: Option<String>,
    /// Answers to the type's intake questionnaire (`GET /api/v1/clinic`:
    /// `questionnaire`), question id -> answer: a string for `text`, a
    /// choice's `value` for `choice`, a list of them for `choices`,
    /// `true`/`false` for `yes_no`, a number for `number`, `YYYY-MM-DD`
    /// for `date`. Optional: without it the booking's `questionnaire` is
    /// `pending` and the confirmation asks the patient to answer through
    /// the manage link. When given it is checked in full; errors are on
    /// `answers.<id>`: `required`, `invalid_choice`, `too_long`,
    /// `out_of_range`, `invalid` (a value of the wrong kind),
    /// `unknown_field`. A form sends `answers.<id>` fields instead (a
    /// `choices` question's ticked boxes as repeated fields).
    #[schema(value_type = Option<Object>, example = json!({"side": "left", "location": ["inner"], "since": "1_to_6_months", "pain_score": 6, "anticoagulants": false}))]
    pub answers: Option<serde_json::Value>,
}

/// The answers to a booking's intake questionnaire, given or changed
/// through the manage link (all of them, as in `BookingRequest.answers`).
#[derive(Serialize, ToSchema)]
pub struct AnswersRequest {
    #[schema(value_type = Object, example = json!({"side": "both", "location": ["front", "inner"], "since": "over_3_years", "pain_score": 7, "anticoagulants": true, "medication": "ワーファリン"}))]
    pub answers: serde_json::Value,
}

/// A request to join the waiting list (JSON, or the `/waitlist` form).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "name": "山田 太郎", "email": "taro@example.jp", "phone": "090-1234-5678",
    "type": "consultation", "date": "2026-12-01", "from": "10:00", "to": "12:30",
    "consent": true
}))]
pub struct WaitlistRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 100)]
    pub name_kana: Option<String>,
    #[schema(max_length = 254)]
    pub email: String,
    #[schema(max_length = 40)]
    pub phone: String,
    /// A consultation type code (default `consultation`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The clinic day wanted (`YYYY-MM-DD`, an open day inside the booking
    /// window).
    pub date: String,
    /// Earliest start wanted, `HH:MM` clinic time, inclusive (default: opening).
    pub from: Option<String>,
    /// Latest start wanted, `HH:MM` clinic time, inclusive (default: the last slot).
    pub to: Option<String>,
    /// Only this practitioner (a code); empty: anyone.
    pub practitioner: Option<String>,
    #[schema(schema_with = must_be_true)]
    pub consent: bool,
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

/// An inquiry (JSON, or an HTML form with the same field names).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "name": "山田 太郎", "email": "taro@example.jp", "phone": "090-1234-5678",
    "category": "treatment", "message": "膝の再生医療について伺いたいです。", "consent": true
}))]
pub struct InquiryRequest {
    /// The sender's name, 1 to 100 characters. Here and in `message`,
    /// bidirectional controls and invisible characters are
    /// `invalid_characters`.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 254)]
    pub email: String,
    /// A Japanese number, with or without hyphens, full-width digits or `+81`.
    pub phone: Option<String>,
    /// What the inquiry is about; absent, null or empty means `general`.
    #[schema(schema_with = inquiry_category)]
    pub category: Option<String>,
    /// 1 to 4000 characters.
    #[schema(min_length = 1, max_length = 4000)]
    pub message: String,
    /// Consent to the handling of personal and health information: must be true.
    #[schema(schema_with = must_be_true)]
    pub consent: bool,
    /// The article the visitor came from.
    #[schema(max_length = 100, pattern = "^[A-Za-z0-9_./-]*$")]
    pub source: Option<String>,
}

/// `general`, `treatment`, `reservation`, `other`; empty or null for the default.
fn inquiry_category() -> utoipa::openapi::Object {
    let mut codes: Vec<serde_json::Value> = crate::domain::InquiryCategory::ALL
        .iter()
        .map(|category| category.as_str().into())
        .collect();
    codes.extend(["".into(), serde_json::Value::Null]);
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::String,
            utoipa::openapi::schema::Type::Null,
        ]))
        .enum_values(Some(codes))
        .build()
}

/// A staff change to a booking: any of its fields, all or nothing. Other
/// fields are refused (`unknown_field`).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "completed", "staff_note": "次回 2週間後"}))]
pub struct StaffBookingChange {
    #[schema(nullable = false, value_type = Option<BookingStatusCode>)]
    pub status: Option<String>,
    /// A new start (reschedule): RFC 3339 with any offset, or
    /// `YYYY-MM-DDTHH:MM` read as clinic time. Staff may book inside the
    /// minimum notice.
    #[schema(nullable = false)]
    pub start: Option<String>,
    /// Up to 2000 characters; null or empty clears it. Bidirectional
    /// controls and invisible characters are `invalid_characters`.
    #[schema(max_length = 2000)]
    pub staff_note: Option<String>,
    /// Another practitioner of the booking's type (a code from
    /// `GET /api/v1/practitioners`), at the same or the new `start`: 409
    /// `slot_unavailable` when they are not free for the whole duration and
    /// buffer, 422 `invalid_practitioner` when they do not take the type.
    /// The patient is not mailed. Empty or null changes nothing.
    #[schema(nullable = false)]
    pub practitioner: Option<String>,
}

/// The states of a booking: `arrived` (受付済) is a patient checked in at
/// the desk, before the visit is `completed`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatusCode {
    Confirmed,
    Arrived,
    Cancelled,
    Completed,
    NoShow,
}

/// A closure: a whole clinic date (`date`), or a time range (`start` and
/// `end`), never both. Other fields are refused (`unknown_field`).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"date": "2026-12-30", "reason": "年末休診"}))]
pub struct ClosureRequest {
    /// A clinic date, YYYY-MM-DD: closed from 00:00 to 24:00 clinic time.
    #[schema(format = Date)]
    pub date: Option<String>,
    /// RFC 3339 with any offset, or `YYYY-MM-DDTHH:MM` read as clinic time.
    pub start: Option<String>,
    /// After `start`; same formats.
    pub end: Option<String>,
    /// Up to 200 characters.
    #[schema(max_length = 200)]
    pub reason: Option<String>,
    /// A practitioner's or room's code (`[[resources]]`): the closure is
    /// their time off only (bookings needing them elsewhere go on); absent,
    /// null or empty: the clinic closes. An unknown code is 422
    /// `invalid_resource`.
    pub resource: Option<String>,
}

/// A page of bookings as staff see them.
#[derive(Serialize, ToSchema)]
pub struct StaffBookingList {
    pub items: Vec<routes::staff::bookings::StaffBookingView>,
    /// The URL of the next page, or null on the last.
    pub next: Option<String>,
}

/// A page of closures.
#[derive(Serialize, ToSchema)]
pub struct ClosureList {
    pub items: Vec<routes::staff::closures::ClosureView>,
    /// The URL of the next page, or null on the last.
    pub next: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<routes::staff::bookings::AuditView>,
    /// The URL of the next page, or null on the last.
    pub next: Option<String>,
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
        // What the desk does with a new booking.
        for (name, operation_id) in [
            ("GetStaffBooking", "getStaffBooking"),
            ("UpdateStaffBooking", "updateStaffBooking"),
        ] {
            created.links.insert(
                name.to_string(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id(operation_id)
                        .parameter("reference", "$response.body#/reference")
                        .build(),
                ),
            );
        }
    }
}

/// Links from a new closure to reading and deleting it.
struct ClosureLinks;

impl Modify for ClosureLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let created = openapi
            .paths
            .paths
            .get_mut("/api/v1/staff/closures")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.responses.responses.get_mut("201"));
        let Some(RefOr::T(created)) = created else {
            return;
        };
        for (name, operation_id) in [
            ("GetClosure", "getStaffClosure"),
            ("DeleteClosure", "deleteStaffClosure"),
        ] {
            created.links.insert(
                name.to_string(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id(operation_id)
                        .parameter("id", "$response.body#/id")
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
                        "A staff token from `clinic-booking staff-token create`. A client whose tokens were refused (401) `rate_limit.staff_auth_failures_per_minute` times gets 429 on staff routes until its budget refills.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `metrics.token` setting, for Prometheus scrapers.",
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
        routes::practitioners::list,
        routes::bookings::create,
        routes::bookings::show,
        routes::bookings::cancel,
        routes::bookings::reschedule,
        routes::answers::show,
        routes::answers::update,
        routes::inquiries::create,
        routes::waitlist::create,
        routes::waitlist::show,
        routes::waitlist::cancel,
        routes::waitlist::accept,
        routes::staff::waitlist::list,
        routes::staff::waitlist::erase,
        routes::site::articles::list,
        routes::site::articles::show,
        crate::routes::metrics::endpoint,
        routes::staff::bookings::list,
        routes::staff::bookings::show,
        routes::staff::bookings::update,
        routes::staff::closures::create,
        routes::staff::closures::list,
        routes::staff::closures::show,
        routes::staff::closures::delete,
        routes::staff::calendar::feed,
        routes::staff::audit::list,
        routes::staff::inquiries::list,
        routes::staff::inquiries::show,
        routes::staff::inquiries::update,
        routes::staff::outbox::list,
        routes::staff::outbox::retry,
        routes::staff::privacy::erase_booking,
        routes::staff::privacy::erase_inquiry,
        routes::staff::webhooks::list,
        routes::staff::webhooks::retry,
        routes::fhir::metadata,
        routes::fhir::search_schedules,
        routes::fhir::read_schedule,
        routes::fhir::search_slots,
        routes::fhir::read_slot,
        routes::fhir::search_appointments,
        routes::fhir::read_appointment,
        routes::fhir::search_practitioners,
        routes::fhir::read_practitioner,
    ),
    components(schemas(
        BookingRequest,
        RescheduleRequest,
        AnswersRequest,
        routes::answers::QuestionnaireAnswers,
        crate::workflows::questionnaire::AnswersView,
        crate::domain::questionnaire::Questionnaire,
        crate::domain::questionnaire::Question,
        crate::domain::questionnaire::AnswerChoice,
        crate::domain::questionnaire::QuestionKind,
        Problem,
        ProblemFieldError,
        SlotOffer,
        Status,
        DayAvailability,
        SlotAvailability,
        routes::bookings::BookingView,
        routes::bookings::PractitionerRef,
        routes::practitioners::PractitionerView,
        routes::practitioners::PractitionerList,
        routes::clinic::ClinicInfo,
        routes::availability::AvailabilityResponse,
        InquiryRequest,
        routes::inquiries::InquiryReceipt,
        WaitlistRequest,
        routes::waitlist::WaitlistJoined,
        routes::waitlist::WaitlistView,
        routes::waitlist::OfferView,
        routes::waitlist::BookingRefView,
        routes::staff::waitlist::WaitlistList,
        crate::articles::Article,
        crate::articles::Section,
        crate::articles::Link,
        routes::site::articles::ArticleList,
        StaffBookingChange,
        BookingStatusCode,
        ClosureRequest,
        StaffBookingList,
        ClosureList,
        AuditList,
        routes::staff::bookings::StaffBookingView,
        routes::staff::bookings::AuditView,
        routes::staff::closures::ClosureView,
        routes::staff::webhooks::DeliveryView,
        routes::staff::webhooks::DeliveryList,
    )),
    modifiers(&SecuritySchemes, &BookingLinks, &ClosureLinks),
    tags(
        (name = "public", description = "The clinic website and API callers"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "staff", description = "The clinic's staff: `Authorization: Bearer` with a staff token"),
        (name = "fhir", description = "A read-only FHIR R4 view of the schedule (`application/fhir+json`; errors are OperationOutcomes)"),
    )
)]
pub struct ApiDoc;

/// The document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
