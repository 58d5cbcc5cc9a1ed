//! The FHIR R4 resources this server serves, as JSON: CapabilityStatement,
//! Schedule, Slot, Appointment and Practitioner. Codes follow R4's required
//! value sets; elements this service has no value for are left out (FHIR
//! JSON has no empty strings or arrays).

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

use crate::db::bookings::BookingRow;
use crate::domain::BookingStatus;
use crate::schedule::availability::{rfc3339, SlotAvailability};
use crate::schedule::resources::Resource;
use crate::schedule::ConsultationType;
use crate::state::AppState;

/// When what the CapabilityStatement says last changed.
const CAPABILITIES_CHANGED: &str = "2026-12-04";

fn public_url(state: &AppState) -> &str {
    state.settings.server.public_url.trim_end_matches('/')
}

/// The code system of the clinic's consultation types (`schedule.
/// consultation_types`' codes).
fn type_system(state: &AppState) -> String {
    format!("{}/fhir/consultation-type", public_url(state))
}

/// The identifier system of booking references.
fn reference_system(state: &AppState) -> String {
    format!("{}/fhir/booking-reference", public_url(state))
}

/// The identifier system of practitioner codes (`[[resources]]`' codes).
fn practitioner_system(state: &AppState) -> String {
    format!("{}/fhir/practitioner", public_url(state))
}

fn service_type(state: &AppState, kind: &ConsultationType) -> Value {
    json!({
        "coding": [{"system": type_system(state), "code": kind.code, "display": kind.label}],
        "text": kind.label,
    })
}

/// The consultation type a `service-type` token names: `code`, `|code` or
/// `system|code` with this server's system.
pub fn consultation_type<'a>(state: &'a AppState, token: &str) -> Option<&'a ConsultationType> {
    let code = match token.split_once('|') {
        None => token,
        Some(("", code)) => code,
        Some((system, code)) if system == type_system(state) => code,
        Some(_) => return None,
    };
    state.calendar.consultation_type(code)
}

/// A schedule of the clinic: a consultation type's seats (its
/// `Schedule/{type}`, as the availability API gives them), or one
/// practitioner's who takes the type (`Schedule/{type}.{practitioner}`:
/// the times that practitioner is free for it). Codes have no dots, so the
/// id reads back unambiguously.
pub struct Schedule<'a> {
    pub kind: &'a ConsultationType,
    pub practitioner: Option<&'a Resource>,
}

impl<'a> Schedule<'a> {
    pub fn of_type(kind: &'a ConsultationType) -> Self {
        Schedule {
            kind,
            practitioner: None,
        }
    }

    pub fn id(&self) -> String {
        match self.practitioner {
            None => self.kind.code.clone(),
            Some(practitioner) => format!("{}.{}", self.kind.code, practitioner.code),
        }
    }

    /// The practitioner whose free times it shows, if any.
    pub fn only(&self) -> Option<&'a str> {
        self.practitioner
            .map(|practitioner| practitioner.code.as_str())
    }

    fn display(&self, state: &AppState) -> String {
        let clinic = &state.settings.clinic.name;
        match self.practitioner {
            None => format!("{clinic} {}", self.kind.label),
            Some(practitioner) => format!("{clinic} {} {}", self.kind.label, practitioner.label),
        }
    }
}

/// Every schedule: each type's, then each practitioner's for the types
/// they take, in the clinic's order.
pub fn schedules(state: &AppState) -> Vec<Schedule<'_>> {
    let types = state.calendar.consultation_types();
    let mut all: Vec<Schedule> = types.iter().map(Schedule::of_type).collect();
    for kind in types {
        let Some(needs) = state.resources.needs(&kind.code) else {
            continue;
        };
        all.extend(needs.practitioners.iter().map(|&index| Schedule {
            kind,
            practitioner: state.resources.get(index),
        }));
    }
    all
}

/// The schedule with this id, `{type}` or `{type}.{practitioner}`.
pub fn schedule_by_id<'a>(state: &'a AppState, id: &str) -> Option<Schedule<'a>> {
    schedules(state)
        .into_iter()
        .find(|schedule| schedule.id() == id)
}

/// The schedule a search names: by its id, `Schedule/id`, or this server's
/// full URL of it.
pub fn schedule_by_reference<'a>(state: &'a AppState, reference: &str) -> Option<Schedule<'a>> {
    schedule_by_id(state, &referenced_id(state, reference, "Schedule"))
}

/// The id in a search's reference to one of this server's resources of
/// `resource_type`: the id itself, `Type/id`, or this server's full URL.
pub fn referenced_id(state: &AppState, reference: &str, resource_type: &str) -> String {
    let base = format!("{}/fhir/r4/", public_url(state));
    let relative = reference.strip_prefix(base.as_str()).unwrap_or(reference);
    relative
        .strip_prefix(resource_type)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(relative)
        .to_string()
}

/// A Schedule: whose it is (the clinic, or the practitioner), and for
/// which consultation type.
pub fn schedule(state: &AppState, schedule: &Schedule) -> Value {
    let actor = match schedule.practitioner {
        None => json!({"type": "Location", "display": state.settings.clinic.name}),
        Some(practitioner) => json!({
            "reference": format!("Practitioner/{}", practitioner.code),
            "display": practitioner.label,
        }),
    };
    json!({
        "resourceType": "Schedule",
        "id": schedule.id(),
        "active": true,
        "serviceType": [service_type(state, schedule.kind)],
        "actor": [actor],
        "comment": schedule.display(state),
    })
}

/// A slot's id: its schedule's and its start in clinic time,
/// `consultation-202612011000` or `stem-cell.dr-sato-202612011000`.
fn slot_id(schedule: &Schedule, start: &str) -> String {
    let digits: String = start
        .chars()
        .take(16)
        .filter(char::is_ascii_digit)
        .collect();
    format!("{}-{digits}", schedule.id())
}

/// What a slot id names: its schedule, its clinic date and its start (RFC
/// 3339, as the availability gives it).
pub fn parse_slot_id<'a>(
    state: &'a AppState,
    id: &str,
) -> Option<(Schedule<'a>, NaiveDate, String)> {
    let (schedule, digits) = id.rsplit_once('-')?;
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let schedule = schedule_by_id(state, schedule)?;
    let local = NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M").ok()?;
    let start = state.calendar.at(local.date(), local.time())?;
    Some((schedule, local.date(), rfc3339(start)))
}

/// A Slot of a schedule: `free` while it can be booked (with that
/// practitioner, on a practitioner's schedule), `busy` when full, closed by
/// staff, or too soon or too far ahead to book.
pub fn slot(state: &AppState, schedule: &Schedule, slot: &SlotAvailability) -> Value {
    json!({
        "resourceType": "Slot",
        "id": slot_id(schedule, &slot.start),
        "serviceType": [service_type(state, schedule.kind)],
        "schedule": {
            "reference": format!("Schedule/{}", schedule.id()),
            "display": schedule.display(state),
        },
        "status": if slot.available { "free" } else { "busy" },
        "start": slot.start,
        "end": slot.end,
    })
}

/// R4's Appointment status of a booking's status (the match is
/// exhaustive, so a new status does not build until it is mapped here).
fn appointment_status(status: BookingStatus) -> &'static str {
    match status {
        BookingStatus::Confirmed => "booked",
        BookingStatus::Arrived => "arrived",
        BookingStatus::Cancelled => "cancelled",
        BookingStatus::Completed => "fulfilled",
        BookingStatus::NoShow => "noshow",
    }
}

/// An Appointment: a booking with its reference as identifier, its type,
/// its times, and as participants the patient (by name, until erased), the
/// booking's practitioner (`Practitioner/<code>`, when its type has them)
/// and the clinic.
pub fn appointment(state: &AppState, row: &BookingRow) -> Value {
    let calendar = &state.calendar;
    let kind = crate::workflows::booking::kind_of(state, row);
    let mut patient = json!({"type": "Patient"});
    if !row.name.is_empty() {
        patient["display"] = json!(row.name);
    }
    let minutes = (row.end_at - row.start_at).num_minutes();
    let mut appointment = json!({
        "resourceType": "Appointment",
        "id": row.reference,
        "meta": {"lastUpdated": rfc3339(calendar.local(row.updated_at))},
        "identifier": [{"system": reference_system(state), "value": row.reference}],
        "status": appointment_status(row.status),
        "serviceType": [service_type(state, kind)],
        "description": kind.label,
        "start": rfc3339(calendar.local(row.start_at)),
        "end": rfc3339(calendar.local(row.end_at)),
        "created": rfc3339(calendar.local(row.created_at)),
        "participant": [
            {"actor": patient, "required": "required", "status": "accepted"},
            {
                "actor": {"type": "Location", "display": state.settings.clinic.name},
                "required": "required",
                "status": "accepted",
            },
        ],
    });
    if let Some(code) = row.practitioner.as_deref() {
        // A practitioner the configuration no longer has is named by code,
        // with no reference that would not resolve.
        let actor = match state.resources.practitioner(code) {
            Some(practitioner) => {
                json!({"reference": format!("Practitioner/{code}"), "display": practitioner.label})
            }
            None => json!({"type": "Practitioner", "display": code}),
        };
        if let Some(participants) = appointment["participant"].as_array_mut() {
            participants.insert(
                1,
                json!({"actor": actor, "required": "required", "status": "accepted"}),
            );
        }
    }
    if minutes > 0 {
        appointment["minutesDuration"] = json!(minutes);
    }
    appointment
}

/// A Practitioner: one of the clinic's practitioners, by its code (the id
/// an Appointment's participant refers to), named by its label, with the
/// English label as its translation when it has one of its own.
pub fn practitioner(state: &AppState, resource: &Resource) -> Value {
    let mut name = json!({"text": resource.label});
    if resource.label_en != resource.label {
        name["_text"] = json!({"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/translation",
            "extension": [
                {"url": "lang", "valueCode": "en"},
                {"url": "content", "valueString": resource.label_en},
            ],
        }]});
    }
    json!({
        "resourceType": "Practitioner",
        "id": resource.code,
        "identifier": [{"system": practitioner_system(state), "value": resource.code}],
        "active": true,
        "name": [name],
    })
}

/// What this server does: read and search Schedule, Slot and Practitioner
/// (public) and Appointment (staff token), JSON only.
pub fn capability_statement(state: &AppState, base: &str) -> Value {
    let dates = "Clinic dates (Asia/Tokyo) as YYYY-MM-DD with a prefix: ge, gt, le, lt or eq.";
    let paging = [
        json!({"name": "_count", "type": "number", "documentation": "Page size, 0 to 500 (default 100)."}),
        json!({"name": "_offset", "type": "number", "documentation": "Entries to skip; the next link sets it."}),
    ];
    let mut slot_params = vec![
        json!({"name": "start", "definition": "http://hl7.org/fhir/SearchParameter/Slot-start",
               "type": "date", "documentation": format!("{dates} At most 62 days; default seven days from today.")}),
        json!({"name": "service-type", "definition": "http://hl7.org/fhir/SearchParameter/Slot-service-type",
               "type": "token", "documentation": "A consultation type code; default the clinic's default type."}),
        json!({"name": "schedule", "definition": "http://hl7.org/fhir/SearchParameter/Slot-schedule",
               "type": "reference", "documentation": "A Schedule: a practitioner's (type.practitioner) gives the times they are free."}),
    ];
    slot_params.extend(paging.iter().cloned());
    let mut schedule_params = vec![
        json!({"name": "actor", "definition": "http://hl7.org/fhir/SearchParameter/Schedule-actor",
               "type": "reference", "documentation": "Practitioner/code: that practitioner's schedules."}),
        json!({"name": "service-type", "definition": "http://hl7.org/fhir/SearchParameter/Schedule-service-type",
               "type": "token", "documentation": "A consultation type code."}),
    ];
    schedule_params.extend(paging.iter().cloned());
    let mut appointment_params = vec![
        json!({"name": "date", "definition": "http://hl7.org/fhir/SearchParameter/clinical-date",
               "type": "date", "documentation": format!("{dates} The day the appointment starts.")}),
    ];
    appointment_params.extend(paging.iter().cloned());
    let practitioner_params: Vec<Value> = paging.to_vec();
    let interactions = json!([{"code": "read"}, {"code": "search-type"}]);
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITIES_CHANGED,
        "publisher": state.settings.clinic.name,
        "kind": "instance",
        "software": {"name": "clinic-booking", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {
            "description": format!("{}: the schedule, read-only", state.settings.clinic.name),
            "url": base,
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Read-only. Unknown search parameters are refused (400).",
            "security": {
                "description": "Appointment needs Authorization: Bearer with a staff token (clinic-booking staff-token create); metadata, Schedule, Slot and Practitioner are public.",
            },
            "resource": [
                {"type": "Schedule", "interaction": interactions, "searchParam": schedule_params},
                {"type": "Slot", "interaction": interactions, "searchParam": slot_params},
                {"type": "Appointment", "interaction": interactions, "searchParam": appointment_params},
                {"type": "Practitioner", "interaction": interactions, "searchParam": practitioner_params},
            ],
        }],
    })
}
