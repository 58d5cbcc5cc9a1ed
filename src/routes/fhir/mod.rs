//! A read-only FHIR R4 view of the schedule under `/fhir/r4`
//! (`application/fhir+json`): the CapabilityStatement, Schedules (each
//! consultation type's, and each practitioner's for the types they take),
//! their Slots and the Practitioners (public), and Appointments (with a
//! staff token), searched (Slots and Appointments by clinic dates,
//! Asia/Tokyo) and read one by one. Searches answer a `searchset` Bundle
//! with `total` and `self`/`next` links; every error under `/fhir` is an
//! OperationOutcome.

mod params;
mod resources;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{Duration, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::db::appointments;
use crate::error::ApiError;
use crate::schedule::availability::{days, utc_range};
use crate::schedule::ConsultationType;
use crate::state::AppState;
use crate::workflows::availability::schedule_with_closures;
use params::{DateRange, Search};
use resources::Schedule;

pub const FHIR_JSON: &str = "application/fhir+json";

/// The longest Slot search, in clinic days (as the availability API).
const MAX_SLOT_DAYS: i64 = 62;
/// How far from today a searched date may be.
const MAX_DISTANCE_DAYS: i64 = 3660;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/fhir")
            .service(fhir_resource("/r4/metadata").route(web::get().to(metadata)))
            .service(fhir_resource("/r4/Schedule").route(web::get().to(search_schedules)))
            .service(fhir_resource("/r4/Schedule/{id}").route(web::get().to(read_schedule)))
            .service(fhir_resource("/r4/Slot").route(web::get().to(search_slots)))
            .service(fhir_resource("/r4/Slot/{id}").route(web::get().to(read_slot)))
            .service(fhir_resource("/r4/Appointment").route(web::get().to(search_appointments)))
            .service(fhir_resource("/r4/Appointment/{id}").route(web::get().to(read_appointment)))
            .service(fhir_resource("/r4/Practitioner").route(web::get().to(search_practitioners)))
            .service(
                fhir_resource("/r4/Practitioner/{id}").route(web::get().to(read_practitioner)),
            )
            .default_service(web::to(|req: HttpRequest| async move {
                Err::<HttpResponse, _>(FhirError::not_found(format!(
                    "{} is not served: this server reads metadata, Schedule, Slot, Appointment and Practitioner",
                    req.path()
                )))
            })),
    );
}

/// A read-only resource: any method but GET is a 405 OperationOutcome.
fn fhir_resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(FhirError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "not-supported",
            diagnostics: "This FHIR view is read-only: only GET is served.".into(),
        })
    }))
}

/// An error as FHIR clients expect it: an OperationOutcome.
#[derive(Debug)]
pub struct FhirError {
    status: StatusCode,
    /// The issue type (http://hl7.org/fhir/issue-type).
    code: &'static str,
    diagnostics: String,
}

impl FhirError {
    fn invalid(diagnostics: impl Into<String>) -> Self {
        FhirError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid",
            diagnostics: diagnostics.into(),
        }
    }

    fn not_supported(diagnostics: impl Into<String>) -> Self {
        FhirError {
            status: StatusCode::BAD_REQUEST,
            code: "not-supported",
            diagnostics: diagnostics.into(),
        }
    }

    fn not_found(diagnostics: impl Into<String>) -> Self {
        FhirError {
            status: StatusCode::NOT_FOUND,
            code: "not-found",
            diagnostics: diagnostics.into(),
        }
    }
}

impl std::fmt::Display for FhirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.diagnostics)
    }
}

impl From<ApiError> for FhirError {
    fn from(error: ApiError) -> Self {
        let (status, code, diagnostics) = match &error {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found.".to_string()),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "login",
                "Send a valid staff token as Authorization: Bearer.".to_string(),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "The database is unavailable; try again later.".to_string(),
            ),
            ApiError::BadRequest { detail, .. } => {
                (StatusCode::BAD_REQUEST, "invalid", detail.clone())
            }
            ApiError::Validation(errors) => (
                StatusCode::BAD_REQUEST,
                "invalid",
                errors
                    .iter()
                    .map(|error| format!("{}: {}", error.field, error.code))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "Too many requests; try again shortly.".to_string(),
            ),
            other => {
                // As the API logs its errors: the cause, never any data.
                tracing::error!(error = format!("{other:#}"), "FHIR request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "An internal error occurred.".to_string(),
                )
            }
        };
        FhirError {
            status,
            code,
            diagnostics,
        }
    }
}

impl ResponseError for FhirError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let outcome = json!({
            "resourceType": "OperationOutcome",
            "issue": [{
                "severity": "error",
                "code": self.code,
                "diagnostics": self.diagnostics,
            }],
        });
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response.insert_header((header::ALLOW, HeaderValue::from_static("GET")));
        }
        response.content_type(FHIR_JSON).body(outcome.to_string())
    }
}

fn fhir_json(resource: &Value, private: bool) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if private {
        response.insert_header((header::CACHE_CONTROL, "no-store"));
    }
    response.content_type(FHIR_JSON).body(resource.to_string())
}

/// The base URL of this FHIR server, e.g. `https://clinic.example/fhir/r4`.
fn base(state: &AppState) -> String {
    format!(
        "{}/fhir/r4",
        state.settings.server.public_url.trim_end_matches('/')
    )
}

/// `GET /fhir/r4/metadata`: what this server does.
#[utoipa::path(get, path = "/fhir/r4/metadata", operation_id = "fhirCapabilities", tag = "fhir",
    responses(
        (status = 200, description = "The CapabilityStatement", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    fhir_json(
        &resources::capability_statement(&state, &base(&state)),
        false,
    )
}

/// The days of a schedule as the availability API reads them: by the
/// seats, or by the type's practitioners and rooms (a slot is free when
/// one of them is; on a practitioner's schedule, when that one is).
async fn slot_days(
    state: &AppState,
    schedule: &Schedule<'_>,
    from: chrono::NaiveDate,
    last: chrono::NaiveDate,
) -> Result<Vec<crate::schedule::availability::DayAvailability>, crate::error::ApiError> {
    let now = Utc::now();
    let kind = schedule.kind;
    let only = schedule.only();
    if let Some(days) =
        crate::workflows::resources::availability_days(state, kind, from, last, only, now).await?
    {
        return Ok(days);
    }
    let (calendar, occupancy) = schedule_with_closures(state, from, last).await?;
    Ok(days(&calendar, kind, from, last, &occupancy, now))
}

/// What a search's `service-type` asks for: any type (none given), one of
/// the clinic's, or one it does not have (which matches nothing).
enum TypeWanted<'a> {
    Any,
    Type(&'a ConsultationType),
    Unknown,
}

impl<'a> TypeWanted<'a> {
    fn of(state: &'a AppState, search: &Search) -> Result<Self, FhirError> {
        Ok(match search.single("service-type")? {
            None => TypeWanted::Any,
            Some(token) => resources::consultation_type(state, token)
                .map_or(TypeWanted::Unknown, TypeWanted::Type),
        })
    }

    fn admits(&self, kind: &ConsultationType) -> bool {
        match self {
            TypeWanted::Any => true,
            TypeWanted::Type(wanted) => wanted.code == kind.code,
            TypeWanted::Unknown => false,
        }
    }
}

/// `GET /fhir/r4/Schedule[?actor=Practitioner/CODE][&service-type=CODE]`:
/// the clinic's schedules, each consultation type's and each
/// practitioner's for the types they take.
#[utoipa::path(get, path = "/fhir/r4/Schedule", operation_id = "fhirSearchSchedule", tag = "fhir",
    params(
        ("actor" = Option<String>, Query, description = "Whose: `Practitioner/CODE`, its full URL or the code (the type's own schedules have the clinic as actor and match no reference)"),
        ("service-type" = Option<String>, Query, description = "A consultation type code (or `system|code`)"),
        ("_count" = Option<i64>, Query, minimum = 0, maximum = 500, description = "Page size (default 100)"),
        ("_offset" = Option<i64>, Query, minimum = 0, description = "Entries to skip (the `next` link sets it)"),
    ),
    responses(
        (status = 200, description = "A searchset Bundle of Schedule", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "An unknown or malformed search parameter (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn search_schedules(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    let search = Search::parse(req.query_string(), &["actor", "service-type"])?;
    let actor = search
        .single("actor")?
        .map(|actor| resources::referenced_id(&state, actor, "Practitioner"));
    let wanted = TypeWanted::of(&state, &search)?;
    let schedules = resources::schedules(&state)
        .iter()
        .filter(|schedule| {
            actor.as_ref().is_none_or(|actor| {
                schedule
                    .practitioner
                    .is_some_and(|practitioner| *actor == practitioner.code)
            })
        })
        .filter(|schedule| wanted.admits(schedule.kind))
        .map(|schedule| resources::schedule(&state, schedule))
        .collect();
    Ok(public_searchset(&state, &search, "Schedule", schedules))
}

/// `GET /fhir/r4/Schedule/{id}`: one schedule, `{type}` or
/// `{type}.{practitioner}`.
#[utoipa::path(get, path = "/fhir/r4/Schedule/{id}", operation_id = "fhirReadSchedule", tag = "fhir",
    params(("id" = String, Path, description = "A Schedule id: a consultation type code, e.g. `stem-cell`, or with a practitioner's, e.g. `stem-cell.dr-sato`")),
    responses(
        (status = 200, description = "The Schedule", body = Object, content_type = "application/fhir+json"),
        (status = 404, description = "No such schedule (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn read_schedule(
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    let schedule = resources::schedule_by_id(&state, &id)
        .ok_or_else(|| FhirError::not_found(format!("Schedule/{id} does not exist.")))?;
    Ok(fhir_json(&resources::schedule(&state, &schedule), false))
}

/// `GET /fhir/r4/Slot?start=geYYYY-MM-DD&start=ltYYYY-MM-DD[&service-type=CODE][&schedule=Schedule/ID]`:
/// the slots of the clinic dates searched (default: seven days from
/// today), `free` or `busy`, of one schedule (default: the consultation
/// type's, and without a type the clinic's default type's). A schedule and
/// a type that do not go together match nothing.
#[utoipa::path(get, path = "/fhir/r4/Slot", operation_id = "fhirSearchSlot", tag = "fhir",
    params(
        ("start" = Option<Vec<String>>, Query, style = Form, explode = true, description = "Clinic dates with a prefix: `geYYYY-MM-DD` and `ltYYYY-MM-DD` (also `gt`, `le`, `eq`); at most 62 days"),
        ("service-type" = Option<String>, Query, description = "A consultation type code (or `system|code`)"),
        ("schedule" = Option<String>, Query, description = "A Schedule (`Schedule/stem-cell.dr-sato`, or its id): one practitioner's free times"),
        ("_count" = Option<i64>, Query, minimum = 0, maximum = 500, description = "Page size (default 100)"),
        ("_offset" = Option<i64>, Query, minimum = 0, description = "Entries to skip (the `next` link sets it)"),
    ),
    responses(
        (status = 200, description = "A searchset Bundle of Slot", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "An unknown or malformed search parameter (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn search_slots(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    let search = Search::parse(req.query_string(), &["start", "service-type", "schedule"])?;
    let range = DateRange::from_values("start", search.values("start"))?;
    let today = state.calendar.today(Utc::now());
    let from = range.from.unwrap_or(today);
    let until = range.until.unwrap_or(from + Duration::days(7));
    check_distance(today, from, "start")?;
    check_distance(today, until, "start")?;
    if (until - from).num_days() > MAX_SLOT_DAYS {
        return Err(FhirError {
            status: StatusCode::BAD_REQUEST,
            code: "too-costly",
            diagnostics: format!("A Slot search covers at most {MAX_SLOT_DAYS} days."),
        });
    }
    let wanted = TypeWanted::of(&state, &search)?;
    let schedule = match search.single("schedule")? {
        Some(reference) => resources::schedule_by_reference(&state, reference)
            .filter(|schedule| wanted.admits(schedule.kind)),
        None => match wanted {
            TypeWanted::Any => Some(Schedule::of_type(state.calendar.default_type())),
            TypeWanted::Type(kind) => Some(Schedule::of_type(kind)),
            TypeWanted::Unknown => None,
        },
    };
    let mut slots = Vec::new();
    if let Some(schedule) = schedule.filter(|_| until > from) {
        let last = until - Duration::days(1);
        for day in slot_days(&state, &schedule, from, last).await? {
            for slot in &day.slots {
                slots.push(resources::slot(&state, &schedule, slot));
            }
        }
    }
    Ok(public_searchset(&state, &search, "Slot", slots))
}

/// `GET /fhir/r4/Slot/{id}`: one slot as a search shows it.
#[utoipa::path(get, path = "/fhir/r4/Slot/{id}", operation_id = "fhirReadSlot", tag = "fhir",
    params(("id" = String, Path, description = "A Slot id as a search gives it, e.g. `consultation-202612011000` or `stem-cell.dr-sato-202612011000`")),
    responses(
        (status = 200, description = "The Slot", body = Object, content_type = "application/fhir+json"),
        (status = 404, description = "No such slot (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn read_slot(
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    let unknown = || FhirError::not_found(format!("Slot/{id} does not exist."));
    let (schedule, date, start) = resources::parse_slot_id(&state, &id).ok_or_else(unknown)?;
    check_distance(state.calendar.today(Utc::now()), date, "id").map_err(|_| unknown())?;
    let day = slot_days(&state, &schedule, date, date).await?;
    let slot = day
        .iter()
        .flat_map(|day| &day.slots)
        .find(|slot| slot.start == start)
        .ok_or_else(unknown)?;
    Ok(fhir_json(&resources::slot(&state, &schedule, slot), false))
}

/// `GET /fhir/r4/Appointment?date=geYYYY-MM-DD&date=ltYYYY-MM-DD` (staff
/// token): the bookings starting on the clinic dates searched, by start.
#[utoipa::path(get, path = "/fhir/r4/Appointment", operation_id = "fhirSearchAppointment", tag = "fhir",
    params(
        ("date" = Option<Vec<String>>, Query, style = Form, explode = true, description = "Clinic dates the appointments start on, with a prefix: `geYYYY-MM-DD`, `ltYYYY-MM-DD` (also `gt`, `le`, `eq`)"),
        ("_count" = Option<i64>, Query, minimum = 0, maximum = 500, description = "Page size (default 100)"),
        ("_offset" = Option<i64>, Query, minimum = 0, description = "Entries to skip (the `next` link sets it)"),
    ),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "A searchset Bundle of Appointment", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "An unknown or malformed search parameter (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
        (status = 401, description = "Missing, wrong or revoked staff token (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn search_appointments(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    crate::routes::staff::auth::authenticate(
        &req,
        crate::workflows::staff_tokens::StaffScope::Staff,
    )
    .await?;
    let search = Search::parse(req.query_string(), &["date"])?;
    let range = DateRange::from_values("date", search.values("date"))?;
    let today = state.calendar.today(Utc::now());
    for date in range.from.iter().chain(range.until.iter()) {
        check_distance(today, *date, "date")?;
    }
    let from = range
        .from
        .map(|from| utc_range(&state.calendar, from, from).0);
    let to = range
        .until
        .map(|until| utc_range(&state.calendar, until, until).0);
    let (offset, count) = (
        i64::try_from(search.offset).unwrap_or(i64::MAX),
        i64::try_from(search.count).unwrap_or(i64::MAX),
    );
    let (total, rows) = state
        .db
        .read(move |conn| {
            let total = appointments::count_starting(conn, from, to)?;
            let rows = if count > 0 {
                appointments::page_starting(conn, from, to, offset, count)?
            } else {
                Vec::new()
            };
            Ok((total, rows))
        })
        .await?;
    let page: Vec<Value> = rows
        .iter()
        .map(|row| resources::appointment(&state, row))
        .collect();
    let total = usize::try_from(total).unwrap_or_default();
    Ok(fhir_json(
        &bundle(&state, &search, "Appointment", total, page),
        true,
    ))
}

/// `GET /fhir/r4/Appointment/{id}` (staff token): one booking, by its
/// reference.
#[utoipa::path(get, path = "/fhir/r4/Appointment/{id}", operation_id = "fhirReadAppointment", tag = "fhir",
    params(("id" = String, Path, description = "The booking's reference, e.g. K7QM-3XWD")),
    security(("staff_token" = [])),
    responses(
        (status = 200, description = "The Appointment", body = Object, content_type = "application/fhir+json"),
        (status = 401, description = "Missing, wrong or revoked staff token (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
        (status = 404, description = "No such booking (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn read_appointment(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    crate::routes::staff::auth::authenticate(
        &req,
        crate::workflows::staff_tokens::StaffScope::Staff,
    )
    .await?;
    let reference = id.into_inner();
    let row = state
        .db
        .read(move |conn| crate::workflows::booking::find_for_staff(conn, &reference))
        .await?;
    Ok(fhir_json(&resources::appointment(&state, &row), true))
}

/// `GET /fhir/r4/Practitioner`: the clinic's practitioners, in the
/// clinic's order (none when none are configured).
#[utoipa::path(get, path = "/fhir/r4/Practitioner", operation_id = "fhirSearchPractitioner", tag = "fhir",
    params(
        ("_count" = Option<i64>, Query, minimum = 0, maximum = 500, description = "Page size (default 100)"),
        ("_offset" = Option<i64>, Query, minimum = 0, description = "Entries to skip (the `next` link sets it)"),
    ),
    responses(
        (status = 200, description = "A searchset Bundle of Practitioner", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "An unknown or malformed search parameter (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn search_practitioners(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    let search = Search::parse(req.query_string(), &[])?;
    let practitioners = state
        .resources
        .practitioners()
        .map(|resource| resources::practitioner(&state, resource))
        .collect();
    Ok(public_searchset(
        &state,
        &search,
        "Practitioner",
        practitioners,
    ))
}

/// `GET /fhir/r4/Practitioner/{id}`: one practitioner, by its code (as an
/// Appointment's participant refers to it).
#[utoipa::path(get, path = "/fhir/r4/Practitioner/{id}", operation_id = "fhirReadPractitioner", tag = "fhir",
    params(("id" = String, Path, description = "The practitioner's code, e.g. `dr-nakamura`")),
    responses(
        (status = 200, description = "The Practitioner", body = Object, content_type = "application/fhir+json"),
        (status = 404, description = "No such practitioner (OperationOutcome)", body = Object, content_type = "application/fhir+json"),
    ))]
pub async fn read_practitioner(
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    let resource = state
        .resources
        .practitioner(&id)
        .ok_or_else(|| FhirError::not_found(format!("Practitioner/{id} does not exist.")))?;
    Ok(fhir_json(&resources::practitioner(&state, resource), false))
}

/// Dates far from today mean nothing to a clinic, and bounding them keeps
/// date arithmetic away from the calendar's limits.
fn check_distance(today: NaiveDate, date: NaiveDate, name: &str) -> Result<(), FhirError> {
    if (date - today).num_days().abs() > MAX_DISTANCE_DAYS {
        return Err(FhirError::invalid(format!(
            "{name}: {date} is too far from today."
        )));
    }
    Ok(())
}

/// The page `search` asks for of `matches` (public resources, all worked
/// out in memory), as a `searchset` Bundle.
fn public_searchset(
    state: &AppState,
    search: &Search,
    resource_type: &str,
    matches: Vec<Value>,
) -> HttpResponse {
    let total = matches.len();
    let page = matches
        .into_iter()
        .skip(search.offset)
        .take(search.count)
        .collect();
    fhir_json(&bundle(state, search, resource_type, total, page), false)
}

/// A `searchset` Bundle of `page` (the entries from `search.offset` on of
/// `total` matches), linking to itself and, when more follow, the next
/// page. (FHIR JSON has no empty arrays: no `entry` when there is none.)
fn bundle(
    state: &AppState,
    search: &Search,
    resource_type: &str,
    total: usize,
    page: Vec<Value>,
) -> Value {
    let base = base(state);
    let url = |offset: usize| {
        format!(
            "{base}/{resource_type}?{}",
            search.query_with_offset(offset)
        )
    };
    let mut links = vec![json!({"relation": "self", "url": url(search.offset)})];
    let shown = page.len();
    if search.count > 0 && search.offset + shown < total {
        links.push(json!({"relation": "next", "url": url(search.offset + shown)}));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
    });
    if !page.is_empty() {
        bundle["entry"] = page
            .into_iter()
            .map(|resource| {
                let id = resource["id"].as_str().unwrap_or_default().to_string();
                json!({
                    "fullUrl": format!("{base}/{resource_type}/{id}"),
                    "resource": resource,
                    "search": {"mode": "match"},
                })
            })
            .collect();
    }
    bundle
}
