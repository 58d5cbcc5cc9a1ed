//! Practitioners and rooms: assignment, buffers, the daily limit, the race
//! for the last free doctor, rescheduling, and configuration errors.

use std::collections::BTreeMap;

use clinic_booking::configuration::{ResourceSettings, Settings};
use clinic_booking::startup::Application;
use serde_json::{json, Value};

use crate::helpers::{
    assert_problem, booking_body, local, manage_token, open_day, spawn_app_with, spawn_on,
    test_settings, Backend, TestApp, TestDatabase,
};

/// Two doctors (dr-a with a lunch break 13:00-14:00), a counsellor and two
/// rooms, Monday to Saturday. Stem-cell (60 minutes) needs a doctor and a
/// room, which is cleaned for 30 minutes after, three a day at most;
/// follow-up needs the counsellor, 30 minutes free after. The default type
/// (consultation) keeps the anonymous seats.
pub fn with_practitioners(settings: &mut Settings) {
    let workdays = |ranges: &str| {
        [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
        ]
        .iter()
        .map(|day| format!("{day} = {ranges}\n"))
        .collect::<String>()
    };
    let toml = format!(
        r#"
        [[resources]]
        code = "dr-a"
        kind = "practitioner"
        label = "A 医師"
        label_en = "Dr. A"
        {lunch}
        [[resources]]
        code = "dr-b"
        kind = "practitioner"
        label = "B 医師"
        label_en = "Dr. B"
        {full}
        [[resources]]
        code = "counsellor"
        kind = "practitioner"
        label = "C カウンセラー"
        {full}
        [[resources]]
        code = "room-1"
        kind = "room"
        label = "処置室1"
        [[resources]]
        code = "room-2"
        kind = "room"
        label = "処置室2"
        "#,
        lunch = workdays(r#"["10:00-13:00", "14:00-18:30"]"#),
        full = workdays(r#"["10:00-18:30"]"#),
    );
    #[derive(serde::Deserialize)]
    struct Only {
        resources: Vec<ResourceSettings>,
    }
    let only: Only = toml::from_str(&toml).expect("test resources");
    settings.resources = only.resources;
    for kind in &mut settings.schedule.consultation_types {
        match kind.code.as_str() {
            "stem-cell" => {
                kind.practitioners = vec!["dr-a".into(), "dr-b".into()];
                kind.rooms = vec!["room-1".into(), "room-2".into()];
                kind.buffer_minutes = 30;
                kind.daily_limit = Some(3);
            }
            "follow-up" => {
                kind.practitioners = vec!["counsellor".into()];
                kind.buffer_minutes = 30;
            }
            _ => {}
        }
    }
}

pub async fn spawn_clinic(backend: Backend) -> TestApp {
    spawn_app_with(backend, with_practitioners).await
}

pub fn body_for(kind: &str, start: &str, practitioner: Option<&str>) -> Value {
    let mut body = booking_body(start);
    body["type"] = json!(kind);
    if let Some(code) = practitioner {
        body["practitioner"] = json!(code);
    }
    body
}

/// Books, asserting a 201, and returns the booking.
pub async fn book_with(app: &TestApp, kind: &str, start: &str, who: Option<&str>) -> Value {
    let response = app.post_booking(&body_for(kind, start, who)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{kind} at {start} by {who:?}: {body}");
    body
}

fn practitioner_of(booking: &Value) -> &str {
    booking["practitioner"]["code"].as_str().unwrap_or("none")
}

async fn the_least_booked_free_practitioner_is_assigned_and_the_daily_limit_holds(
    backend: Backend,
) {
    let app = spawn_clinic(backend).await;
    let day = open_day(4);
    let first = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-b")).await;
    assert_eq!(
        first["practitioner"],
        json!({"code": "dr-b", "label": "B 医師"})
    );
    // dr-a has no booking that day, dr-b one.
    let second = book_with(&app, "stem-cell", &local(day, "14:00"), None).await;
    assert_eq!(practitioner_of(&second), "dr-a");
    // One each: the tie goes to the first configured.
    let third = book_with(&app, "stem-cell", &local(day, "16:00"), None).await;
    assert_eq!(practitioner_of(&third), "dr-a");
    // Three stem-cell bookings fill the day, whoever is free.
    let response = app
        .post_booking(&body_for("stem-cell", &local(day, "17:00"), None))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    // Other types are not limited by it.
    book_with(&app, "follow-up", &local(day, "17:00"), None).await;
    let slots = slots_of(&app, &format!("type=stem-cell&from={day}&to={day}")).await;
    assert!(slots.iter().all(|slot| slot["available"] == false));
}

/// The slots of the first day of an availability answer.
async fn slots_of(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app.availability(query).await;
    assert_eq!(response.status(), 200, "{query}");
    let body: Value = response.json().await.unwrap();
    body["days"][0]["slots"].as_array().unwrap().clone()
}

fn slot_at<'a>(slots: &'a [Value], time: &str) -> &'a Value {
    slots
        .iter()
        .find(|slot| {
            slot["start"]
                .as_str()
                .unwrap()
                .contains(&format!("T{time}:00"))
        })
        .unwrap_or_else(|| panic!("no slot at {time}"))
}

async fn availability_lists_the_free_practitioners_through_breaks_days_off_and_buffers(
    backend: Backend,
) {
    let day = open_day(7);
    let app = spawn_app_with(backend, |settings| {
        with_practitioners(settings);
        settings.resources[1].days_off = vec![day.to_string()];
    })
    .await;
    book_with(&app, "stem-cell", &local(day, "10:00"), None).await;
    let slots = slots_of(&app, &format!("type=stem-cell&from={day}&to={day}")).await;
    let state = |time: &str| {
        let slot = slot_at(&slots, time);
        (slot["available"].clone(), slot["practitioners"].clone())
    };
    // dr-b is off all day; dr-a is busy 10:00-11:00 and at lunch 13:00-14:00.
    assert_eq!(state("10:00"), (json!(false), json!([])));
    assert_eq!(state("10:30"), (json!(false), json!([])));
    // room-1 is cleaned until 11:30, but room-2 is free.
    assert_eq!(state("11:00"), (json!(true), json!(["dr-a"])));
    assert_eq!(state("12:30"), (json!(false), json!([])));
    assert_eq!(state("14:00"), (json!(true), json!(["dr-a"])));
    let dr_b = slots_of(
        &app,
        &format!("type=stem-cell&from={day}&to={day}&practitioner=dr-b"),
    )
    .await;
    assert!(dr_b.iter().all(|slot| slot["available"] == false));
    let response = app
        .availability(&format!(
            "type=stem-cell&from={day}&to={day}&practitioner=counsellor"
        ))
        .await;
    assert_problem(response, 422, "practitioner", "invalid_practitioner").await;
    // Without practitioners a slot looks as it always did.
    let seats = slots_of(&app, &format!("from={day}&to={day}")).await;
    assert!(seats[0].get("practitioners").is_none());
    assert_eq!(seats[0]["available"], true);
}

async fn the_practitioners_are_listed_with_the_types_they_take(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let body: Value = app.get("/api/v1/practitioners").await.json().await.unwrap();
    assert_eq!(
        body,
        json!({"items": [
            {"code": "dr-a", "label": "A 医師", "label_en": "Dr. A", "types": ["stem-cell"]},
            {"code": "dr-b", "label": "B 医師", "label_en": "Dr. B", "types": ["stem-cell"]},
            {"code": "counsellor", "label": "C カウンセラー", "label_en": "C カウンセラー",
             "types": ["follow-up"]},
        ]})
    );
    let plain = spawn_app_with(backend, |_| {}).await;
    let body: Value = plain
        .get("/api/v1/practitioners")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"items": []}));
}

async fn a_named_practitioner_must_take_the_type_and_be_free(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let day = open_day(4);
    let response = app
        .post_booking(&body_for("stem-cell", &local(day, "10:00"), Some("dr-x")))
        .await;
    assert_problem(response, 422, "practitioner", "invalid_practitioner").await;
    let response = app
        .post_booking(&body_for(
            "stem-cell",
            &local(day, "10:00"),
            Some("counsellor"),
        ))
        .await;
    assert_problem(response, 422, "practitioner", "invalid_practitioner").await;
    // A type without practitioners refuses a named one, ignores none.
    let response = app
        .post_booking(&body_for(
            "consultation",
            &local(day, "10:00"),
            Some("dr-a"),
        ))
        .await;
    assert_problem(response, 422, "practitioner", "invalid_practitioner").await;
    let seat = book_with(&app, "consultation", &local(day, "10:00"), Some("")).await;
    assert_eq!(seat["practitioner"], Value::Null);
    // dr-a is at lunch from 13:00: a 12:30 hour crosses it.
    let response = app
        .post_booking(&body_for("stem-cell", &local(day, "12:30"), Some("dr-a")))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    book_with(&app, "stem-cell", &local(day, "12:30"), Some("dr-b")).await;
    // dr-b is now busy until 13:30.
    let response = app
        .post_booking(&body_for("stem-cell", &local(day, "13:00"), Some("dr-b")))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
}

async fn the_buffer_keeps_the_rooms_free_after_a_treatment(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let day = open_day(5);
    book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-a")).await;
    book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-b")).await;
    // Both doctors are free at 11:00, but both rooms are being cleaned.
    let response = app
        .post_booking(&body_for("stem-cell", &local(day, "11:00"), None))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    book_with(&app, "stem-cell", &local(day, "11:30"), None).await;
    // Without a room the buffer is the practitioner's.
    book_with(&app, "follow-up", &local(day, "10:00"), None).await;
    let response = app
        .post_booking(&body_for("follow-up", &local(day, "10:30"), None))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    book_with(&app, "follow-up", &local(day, "11:00"), None).await;
}

/// Fires `count` stem-cell bookings for one start at once, spread over
/// `apps`, and tallies the statuses.
async fn race(apps: &[&TestApp], start: &str, count: usize) -> BTreeMap<u16, usize> {
    let requests = (0..count).map(|i| {
        let app = apps[i % apps.len()];
        let mut body = body_for("stem-cell", start, None);
        body["email"] = json!(format!("patient{i}@example.jp"));
        async move { app.post_booking(&body).await.status().as_u16() }
    });
    let mut tally = BTreeMap::new();
    for status in futures_util::future::join_all(requests).await {
        *tally.entry(status).or_insert(0) += 1;
    }
    tally
}

async fn many_clients_after_the_last_free_doctor_make_exactly_one_booking(backend: Backend) {
    // Two instances share PostgreSQL; SQLite serves one instance.
    let db = TestDatabase::create(backend);
    let first = spawn_on(db.clone(), with_practitioners).await;
    let second = match backend {
        Backend::Postgres => Some(spawn_on(db, with_practitioners).await),
        Backend::Sqlite => None,
    };
    let day = open_day(6);
    let start = local(day, "15:00");
    book_with(&first, "stem-cell", &start, Some("dr-a")).await;
    let apps: Vec<&TestApp> = std::iter::once(&first).chain(second.as_ref()).collect();
    let tally = race(&apps, &start, 30).await;
    assert_eq!(tally, BTreeMap::from([(201, 1), (409, 29)]));
}

async fn rescheduling_keeps_the_practitioner_or_says_the_slot_is_taken(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let day = open_day(4);
    let booking = book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-b")).await;
    let reference = booking["reference"].as_str().unwrap();
    let token = manage_token(&booking);
    let path = format!("/api/v1/bookings/{reference}/reschedule?token={token}");
    let response = app
        .post_json(&path, &json!({"start": local(day, "15:00")}))
        .await;
    assert_eq!(response.status(), 200);
    let moved: Value = response.json().await.unwrap();
    assert_eq!(practitioner_of(&moved), "dr-b");
    // dr-b's old hour is free again.
    book_with(&app, "stem-cell", &local(day, "10:00"), Some("dr-b")).await;
    // dr-b is taken at 17:00; dr-a is free, but the patient keeps dr-b.
    book_with(&app, "stem-cell", &local(day, "17:00"), Some("dr-b")).await;
    let response = app
        .post_json(&path, &json!({"start": local(day, "17:00")}))
        .await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    let response = app
        .get(&format!("/api/v1/bookings/{reference}?token={token}"))
        .await;
    let unchanged: Value = response.json().await.unwrap();
    assert_eq!(unchanged["start"], moved["start"]);
    assert_eq!(practitioner_of(&unchanged), "dr-b");
}

async fn a_cancelled_booking_frees_its_practitioner_and_room(backend: Backend) {
    let app = spawn_clinic(backend).await;
    let day = open_day(5);
    let start = local(day, "14:00");
    let booking = book_with(&app, "follow-up", &start, None).await;
    let response = app.post_booking(&body_for("follow-up", &start, None)).await;
    assert_problem(response, 409, "start", "slot_unavailable").await;
    let reference = booking["reference"].as_str().unwrap();
    let path = format!(
        "/api/v1/bookings/{reference}/cancel?token={}",
        manage_token(&booking)
    );
    assert_eq!(app.post_json(&path, &json!({})).await.status(), 200);
    book_with(&app, "follow-up", &start, Some("counsellor")).await;
}

async fn a_configuration_naming_an_unknown_practitioner_does_not_start(backend: Backend) {
    let db = TestDatabase::create(backend);
    let mut settings = test_settings(&db);
    with_practitioners(&mut settings);
    settings.schedule.consultation_types[1].practitioners = vec!["dr-nobody".into()];
    let error = Application::build(settings).await.err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("dr-nobody"), "{message}");
    assert!(message.contains("stem-cell.practitioners"), "{message}");
    let mut settings = test_settings(&db);
    with_practitioners(&mut settings);
    settings.resources[0].monday = Some(vec!["09:00-12:00".into()]);
    let message = Application::build(settings)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(message.contains("outside the clinic's hours"), "{message}");
}

crate::backend_tests!(
    availability_lists_the_free_practitioners_through_breaks_days_off_and_buffers,
    the_practitioners_are_listed_with_the_types_they_take,
    the_least_booked_free_practitioner_is_assigned_and_the_daily_limit_holds,
    a_named_practitioner_must_take_the_type_and_be_free,
    the_buffer_keeps_the_rooms_free_after_a_treatment,
    many_clients_after_the_last_free_doctor_make_exactly_one_booking,
    rescheduling_keeps_the_practitioner_or_says_the_slot_is_taken,
    a_cancelled_booking_frees_its_practitioner_and_room,
    a_configuration_naming_an_unknown_practitioner_does_not_start,
);
