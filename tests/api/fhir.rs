//! The FHIR R4 view: CapabilityStatement, Schedule, Slot, Appointment and
//! Practitioner searches and reads as `application/fhir+json` Bundles, and
//! OperationOutcomes for every error under `/fhir`. (`.ci/fhir-validate.py`
//! validates the same answers with the fhir.resources models.)

use chrono::{DateTime, Duration};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{local, manage_token, open_day, spawn_app, Backend, TestApp};
use crate::staff_helpers::{reference, staff_delete, staff_patch, staff_token};

async fn fhir(app: &TestApp, path: &str, token: Option<&str>, status: u16) -> Value {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), status, "GET {path}");
    assert_eq!(
        response.headers()["content-type"],
        "application/fhir+json",
        "GET {path}"
    );
    response.json().await.unwrap()
}

fn entries(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|link| link["relation"] == relation)
        .map(|link| link["url"].as_str().unwrap().to_string())
}

/// The path of an absolute URL this app gave.
fn path_of(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.address)
        .expect("one of this app's URLs")
        .to_string()
}

fn assert_outcome(outcome: &Value, code: &str) {
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "error");
    assert_eq!(outcome["issue"][0]["code"], code, "{outcome}");
    assert!(outcome["issue"][0]["diagnostics"].is_string());
}

async fn the_capability_statement_describes_the_read_only_view(backend: Backend) {
    let app = spawn_app(backend).await;
    let statement = fhir(&app, "/fhir/r4/metadata", None, 200).await;
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    assert_eq!(statement["kind"], "instance");
    assert_eq!(statement["status"], "active");
    assert_eq!(statement["implementation"]["url"], app.url("/fhir/r4"));
    let resources = statement["rest"][0]["resource"].as_array().unwrap();
    let types: Vec<&str> = resources
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Schedule", "Slot", "Appointment", "Practitioner"]);
    let params: Vec<&str> = resources[1]["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(params.contains(&"start") && params.contains(&"service-type"));
    assert!(params.contains(&"schedule"));
}

async fn slots_are_a_searchset_of_free_and_busy_slots_paged_with_links(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    app.book(&local(day, "10:00")).await;
    let query = format!("start=ge{day}&start=lt{}", day + Duration::days(1));
    let bundle = fhir(&app, &format!("/fhir/r4/Slot?{query}"), None, 200).await;
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    assert_eq!(bundle["total"], 17, "10:00 to 18:30 in 30 minutes");
    let slots = entries(&bundle);
    assert_eq!(slots.len(), 17);
    let first = &slots[0];
    assert_eq!(
        *first,
        json!({
            "resourceType": "Slot", "id": format!("consultation-{}1000", day.format("%Y%m%d")),
            "serviceType": [{"coding": [{"system": app.url("/fhir/consultation-type"),
                "code": "consultation", "display": "無料カウンセリング・診察"}],
                "text": "無料カウンセリング・診察"}],
            "schedule": {"reference": "Schedule/consultation",
                "display": "N2クリニック銀座本院 無料カウンセリング・診察"},
            "status": "busy",
            "start": format!("{day}T10:00:00+09:00"), "end": format!("{day}T10:30:00+09:00"),
        })
    );
    assert!(slots[1..].iter().all(|slot| slot["status"] == "free"));
    assert_eq!(
        bundle["entry"][0]["fullUrl"],
        app.url(&format!("/fhir/r4/Slot/{}", first["id"].as_str().unwrap()))
    );
    assert_eq!(bundle["entry"][0]["search"]["mode"], "match");
    assert!(link(&bundle, "self").is_some() && link(&bundle, "next").is_none());
    let read = fhir(
        &app,
        &format!("/fhir/r4/Slot/{}", first["id"].as_str().unwrap()),
        None,
        200,
    )
    .await;
    assert_eq!(read, *first);

    // Paging: `_count` per page, `next` until the last.
    let page = fhir(&app, &format!("/fhir/r4/Slot?{query}&_count=5"), None, 200).await;
    assert_eq!(page["total"], 17);
    assert_eq!(entries(&page), slots[..5]);
    let next = link(&page, "next").expect("a next page");
    let second = fhir(&app, &path_of(&app, &next), None, 200).await;
    assert_eq!(entries(&second), slots[5..10]);
    let last = fhir(
        &app,
        &format!("/fhir/r4/Slot?{query}&_count=5&_offset=15"),
        None,
        200,
    )
    .await;
    assert_eq!(entries(&last).len(), 2);
    assert!(link(&last, "next").is_none());

    // Another type: its own slots, as long as it lasts.
    let stem_cell = fhir(
        &app,
        &format!("/fhir/r4/Slot?{query}&service-type=stem-cell"),
        None,
        200,
    )
    .await;
    for slot in entries(&stem_cell) {
        let start = DateTime::parse_from_rfc3339(slot["start"].as_str().unwrap()).unwrap();
        let end = DateTime::parse_from_rfc3339(slot["end"].as_str().unwrap()).unwrap();
        assert_eq!(end - start, Duration::minutes(60));
        assert_eq!(slot["serviceType"][0]["coding"][0]["code"], "stem-cell");
    }
    let unknown = fhir(
        &app,
        &format!("/fhir/r4/Slot?{query}&service-type=massage"),
        None,
        200,
    )
    .await;
    assert_eq!(unknown["total"], 0);
    assert!(
        unknown.get("entry").is_none(),
        "FHIR JSON has no empty arrays"
    );
    // The slots' schedule: the type's, the clinic's own; the same slots
    // searched by it.
    let schedule = fhir(&app, "/fhir/r4/Schedule/consultation", None, 200).await;
    assert_eq!(
        schedule,
        json!({
            "resourceType": "Schedule", "id": "consultation", "active": true,
            "serviceType": first["serviceType"],
            "actor": [{"type": "Location", "display": "N2クリニック銀座本院"}],
            "comment": "N2クリニック銀座本院 無料カウンセリング・診察",
        })
    );
    let by_schedule = fhir(
        &app,
        &format!("/fhir/r4/Slot?{query}&schedule=Schedule/consultation"),
        None,
        200,
    )
    .await;
    assert_eq!(entries(&by_schedule), slots);
    let by_url = fhir(
        &app,
        &format!(
            "/fhir/r4/Slot?{query}&schedule={}",
            app.url("/fhir/r4/Schedule/consultation")
        ),
        None,
        200,
    )
    .await;
    assert_eq!(entries(&by_url), slots);
    // A schedule of another type than the one asked for matches nothing.
    let neither = fhir(
        &app,
        &format!("/fhir/r4/Slot?{query}&schedule=consultation&service-type=stem-cell"),
        None,
        200,
    )
    .await;
    assert_eq!(neither["total"], 0);
    // With no practitioners, a schedule per type and none by a practitioner.
    let schedules = fhir(&app, "/fhir/r4/Schedule", None, 200).await;
    let ids: Vec<String> = entries(&schedules)
        .iter()
        .map(|schedule| schedule["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&"consultation".to_string()) && ids.contains(&"stem-cell".to_string()));
    assert!(ids.iter().all(|id| !id.contains('.')), "{ids:?}");
    let by_actor = fhir(&app, "/fhir/r4/Schedule?actor=Practitioner/dr-a", None, 200).await;
    assert_eq!(by_actor["total"], 0);
    // A Sunday has no slots.
    let sunday = crate::helpers::sunday(3);
    let closed = fhir(&app, &format!("/fhir/r4/Slot?start=eq{sunday}"), None, 200).await;
    assert_eq!(closed["total"], 0);
}

async fn appointments_need_a_staff_token_and_map_every_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = staff_token(&app, "ehr").await;
    let day = open_day(3);
    let booked = app.book(&local(day, "10:00")).await;
    let cancelled = app.book(&local(day, "11:00")).await;
    let completed = app.book(&local(day, "12:00")).await;
    let missed = app.book(&local(day, "13:00")).await;
    let elsewhere = app.book(&local(open_day(4), "10:00")).await;
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/bookings/{}/cancel",
            reference(&cancelled)
        )))
        .bearer_auth(manage_token(&cancelled))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for (booking, status) in [(&completed, "completed"), (&missed, "no_show")] {
        let response =
            staff_patch(&app, &token, &reference(booking), json!({"status": status})).await;
        assert_eq!(response.status(), 200);
    }
    let path = format!(
        "/fhir/r4/Appointment?date=ge{day}&date=lt{}",
        day + Duration::days(1)
    );

    let response = app.get(&path).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    assert_outcome(&response.json().await.unwrap(), "login");

    let bundle = fhir(&app, &path, Some(&token), 200).await;
    assert_eq!(bundle["total"], 4, "not the booking of another day");
    let appointments = entries(&bundle);
    let statuses: Vec<(&str, &str)> = appointments
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            (reference(&booked).as_str(), "booked"),
            (reference(&cancelled).as_str(), "cancelled"),
            (reference(&completed).as_str(), "fulfilled"),
            (reference(&missed).as_str(), "noshow"),
        ]
    );
    let first = &appointments[0];
    assert_eq!(first["resourceType"], "Appointment");
    assert_eq!(
        first["identifier"],
        json!([{"system": app.url("/fhir/booking-reference"), "value": reference(&booked)}])
    );
    assert_eq!(first["start"], format!("{day}T10:00:00+09:00"));
    assert_eq!(first["end"], format!("{day}T10:30:00+09:00"));
    assert_eq!(first["minutesDuration"], 30);
    assert_eq!(first["serviceType"][0]["coding"][0]["code"], "consultation");
    let participants = first["participant"].as_array().unwrap();
    assert_eq!(
        participants[0]["actor"],
        json!({"type": "Patient", "display": "予約 太郎"})
    );
    assert_eq!(participants[1]["actor"]["type"], "Location");
    assert!(participants.iter().all(|p| p["status"] == "accepted"));
    let read = fhir(
        &app,
        &format!("/fhir/r4/Appointment/{}", reference(&booked)),
        Some(&token),
        200,
    )
    .await;
    assert_eq!(read, *first);
    let missing = fhir(&app, "/fhir/r4/Appointment/AAAA-AAAA", Some(&token), 404).await;
    assert_outcome(&missing, "not-found");
    let all = fhir(&app, "/fhir/r4/Appointment?_count=2", Some(&token), 200).await;
    assert_eq!(all["total"], 5);
    assert_eq!(entries(&all).len(), 2);
    assert!(link(&all, "next").is_some());

    // An erased patient is no longer named.
    let response = staff_delete(
        &app,
        &token,
        &format!(
            "/api/v1/staff/bookings/{}/personal-data",
            reference(&elsewhere)
        ),
    )
    .await;
    assert_eq!(response.status(), 200);
    let erased = fhir(
        &app,
        &format!("/fhir/r4/Appointment/{}", reference(&elsewhere)),
        Some(&token),
        200,
    )
    .await;
    assert_eq!(
        erased["participant"][0]["actor"],
        json!({"type": "Patient"})
    );
    assert_eq!(erased["status"], "cancelled");
}

async fn every_error_under_fhir_is_an_operation_outcome(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let unknown = fhir(
        &app,
        &format!("/fhir/r4/Slot?start=ge{day}&patient=1"),
        None,
        400,
    )
    .await;
    assert_outcome(&unknown, "not-supported");
    assert!(unknown["issue"][0]["diagnostics"]
        .as_str()
        .unwrap()
        .contains("patient"));
    let modifier = fhir(&app, "/fhir/r4/Slot?start:missing=true", None, 400).await;
    assert_outcome(&modifier, "not-supported");
    let malformed = fhir(&app, "/fhir/r4/Slot?start=ge2026-13-45", None, 400).await;
    assert_outcome(&malformed, "invalid");
    let date_time = fhir(
        &app,
        &format!("/fhir/r4/Slot?start=ge{day}T10:00"),
        None,
        400,
    )
    .await;
    assert_outcome(&date_time, "invalid");
    let long = format!(
        "/fhir/r4/Slot?start=ge{day}&start=lt{}",
        day + Duration::days(90)
    );
    assert_outcome(&fhir(&app, &long, None, 400).await, "too-costly");
    assert_outcome(
        &fhir(&app, "/fhir/r4/Slot?_count=1000", None, 400).await,
        "invalid",
    );
    assert_outcome(
        &fhir(&app, "/fhir/r4/Slot?_format=xml", None, 406).await,
        "not-supported",
    );
    assert_outcome(
        &fhir(&app, "/fhir/r4/Slot/nonsense", None, 404).await,
        "not-found",
    );
    assert_outcome(
        &fhir(&app, "/fhir/r4/Patient", None, 404).await,
        "not-found",
    );
    // A clinic with no practitioners configured has none to show.
    let practitioners = fhir(&app, "/fhir/r4/Practitioner", None, 200).await;
    assert_eq!(practitioners["total"], 0);
    assert!(practitioners.get("entry").is_none());
    assert_outcome(
        &fhir(&app, "/fhir/r4/Practitioner/dr-a", None, 404).await,
        "not-found",
    );
    assert_outcome(
        &fhir(&app, "/fhir/r4/Practitioner?name=A", None, 400).await,
        "not-supported",
    );
    assert_outcome(
        &fhir(&app, "/fhir/r4/Schedule/massage", None, 404).await,
        "not-found",
    );
    assert_outcome(
        &fhir(&app, "/fhir/r4/Slot/massage-202612011000", None, 404).await,
        "not-found",
    );
    let token = staff_token(&app, "ehr").await;
    let appointment = fhir(
        &app,
        "/fhir/r4/Appointment?date=ge2026-1-1",
        Some(&token),
        400,
    )
    .await;
    assert_outcome(&appointment, "invalid");
    let response = app
        .client
        .post(app.url("/fhir/r4/Slot"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
}

backend_tests!(
    the_capability_statement_describes_the_read_only_view,
    slots_are_a_searchset_of_free_and_busy_slots_paged_with_links,
    appointments_need_a_staff_token_and_map_every_status,
    every_error_under_fhir_is_an_operation_outcome,
);
