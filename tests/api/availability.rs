use chrono::{Duration, NaiveDate};
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

use crate::helpers::{
    assert_problem, local, manage_token, open_day, spawn_app, sunday, today, Backend, TestApp,
};
use crate::staff_helpers::{reference, staff_delete, staff_patch, staff_post, staff_token};

async fn an_open_day_lists_every_slot_from_opening_to_the_last_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let response = app.availability(&format!("from={day}&to={day}")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["timezone"], "Asia/Tokyo");
    assert_eq!(body["type"], "consultation");
    let days = body["days"].as_array().unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0]["date"], day.to_string());
    assert_eq!(days[0]["open"], true);
    let slots = days[0]["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 17, "10:00 to 18:00");
    assert_eq!(slots[0]["start"], format!("{day}T10:00:00+09:00"));
    assert_eq!(slots[0]["end"], format!("{day}T10:30:00+09:00"));
    assert_eq!(slots[16]["start"], format!("{day}T18:00:00+09:00"));
    assert!(slots
        .iter()
        .all(|s| s["available"] == true && s["remaining"] == 1));
}

async fn a_sixty_minute_type_lists_starts_that_end_by_closing(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let body: Value = app
        .availability(&format!("from={day}&to={day}&type=stem-cell"))
        .await
        .json()
        .await
        .unwrap();
    let slots = body["days"][0]["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 16);
    assert_eq!(slots[15]["end"], format!("{day}T18:30:00+09:00"));
}

async fn a_sunday_is_listed_closed_with_its_reason_and_no_slots(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = sunday(1);
    let body: Value = app
        .availability(&format!("from={day}&to={day}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["days"][0]["open"], false);
    assert_eq!(body["days"][0]["closed_reason"], "closed_weekday");
    assert_eq!(body["days"][0]["slots"].as_array().unwrap().len(), 0);
}

async fn slots_in_the_past_or_inside_the_notice_are_unavailable(backend: Backend) {
    let app = spawn_app(backend).await;
    let yesterday = today() - Duration::days(1);
    let body: Value = app
        .availability(&format!("from={yesterday}&to={yesterday}"))
        .await
        .json()
        .await
        .unwrap();
    let slots = body["days"][0]["slots"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(slots.iter().all(|s| s["available"] == false));
}

async fn a_range_of_62_days_is_accepted_and_63_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    let from = today();
    let ok = app
        .availability(&format!("from={from}&to={}", from + Duration::days(61)))
        .await;
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["days"].as_array().unwrap().len(), 62);
    let too_long = app
        .availability(&format!("from={from}&to={}", from + Duration::days(62)))
        .await;
    assert_problem(too_long, 422, "to", "range_too_long").await;
}

async fn a_range_that_ends_before_it_starts_is_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    let from = open_day(3);
    let response = app
        .availability(&format!("from={from}&to={}", from - Duration::days(1)))
        .await;
    assert_problem(response, 422, "to", "invalid_range").await;
}

async fn a_malformed_date_is_a_400_problem(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.availability("from=2026-13-45&to=2026-12-01").await;
    assert_problem(response, 400, "from", "invalid").await;
}

async fn an_unknown_type_is_rejected_with_unknown_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let response = app
        .availability(&format!("from={day}&to={day}&type=massage"))
        .await;
    assert_problem(response, 422, "type", "unknown_type").await;
}

async fn a_booked_sixty_minute_treatment_blocks_both_its_slots(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let mut body = crate::helpers::booking_body(&local(day, "11:00"));
    body["type"] = "stem-cell".into();
    assert_eq!(app.post_booking(&body).await.status(), 201);
    assert!(!app.slot_available(day, &format!("{day}T11:00")).await);
    assert!(!app.slot_available(day, &format!("{day}T11:30")).await);
    assert!(app.slot_available(day, &format!("{day}T12:00")).await);
}

/// `(open, [(time, available)])` of `day` as the API answers now.
async fn day_as_answered(app: &TestApp, day: NaiveDate) -> (bool, Vec<(String, bool)>) {
    let body: Value = app
        .availability(&format!("from={day}&to={}", day + Duration::days(1)))
        .await
        .json()
        .await
        .unwrap();
    let first = &body["days"][0];
    let slots = first["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|slot| {
            let start = slot["start"].as_str().unwrap();
            (start[11..16].to_string(), slot["available"] == true)
        })
        .collect();
    (first["open"] == true, slots)
}

fn free_at(day: &(bool, Vec<(String, bool)>), time: &str) -> bool {
    day.1.iter().any(|(at, free)| at == time && *free)
}

async fn post_with_bearer(app: &TestApp, path: &str, token: &str, body: Value) -> u16 {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Availability answers are kept between requests; each change of a day
/// (booking, move, cancel, staff move, closure and its removal) shows in
/// the very next answer about it.
async fn every_change_of_a_day_shows_in_the_next_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = open_day(3);
    let staff = staff_token(&app, "desk").await;
    // Asked twice first, so that the answer is kept.
    day_as_answered(&app, day).await;
    assert!(free_at(&day_as_answered(&app, day).await, "10:00"));

    let booking = app.book(&local(day, "10:00")).await;
    assert!(!free_at(&day_as_answered(&app, day).await, "10:00"));

    let path = format!("/api/v1/bookings/{}", reference(&booking));
    let token = manage_token(&booking);
    let moved = json!({"start": local(day, "16:00")});
    assert_eq!(
        post_with_bearer(&app, &format!("{path}/reschedule"), &token, moved).await,
        200
    );
    let answered = day_as_answered(&app, day).await;
    assert!(free_at(&answered, "10:00") && !free_at(&answered, "16:00"));

    let by_staff = staff_patch(
        &app,
        &staff,
        &reference(&booking),
        json!({"start": local(day, "12:00")}),
    )
    .await;
    assert_eq!(by_staff.status(), 200);
    let answered = day_as_answered(&app, day).await;
    assert!(free_at(&answered, "16:00") && !free_at(&answered, "12:00"));

    assert_eq!(
        post_with_bearer(&app, &format!("{path}/cancel"), &token, json!({})).await,
        200
    );
    assert!(free_at(&day_as_answered(&app, day).await, "12:00"));

    let closure = staff_post(
        &app,
        &staff,
        "/api/v1/staff/closures",
        json!({"date": day.to_string(), "reason": "研修"}),
    )
    .await;
    assert_eq!(closure.status(), 201);
    let location = closure.headers()["location"].to_str().unwrap().to_string();
    assert!(!day_as_answered(&app, day).await.0);
    assert_eq!(staff_delete(&app, &staff, &location).await.status(), 204);
    let reopened = day_as_answered(&app, day).await;
    assert!(reopened.0 && free_at(&reopened, "10:00"));
}

crate::backend_tests!(
    every_change_of_a_day_shows_in_the_next_answer,
    an_open_day_lists_every_slot_from_opening_to_the_last_start,
    a_sixty_minute_type_lists_starts_that_end_by_closing,
    a_sunday_is_listed_closed_with_its_reason_and_no_slots,
    slots_in_the_past_or_inside_the_notice_are_unavailable,
    a_range_of_62_days_is_accepted_and_63_rejected,
    a_range_that_ends_before_it_starts_is_rejected,
    a_malformed_date_is_a_400_problem,
    an_unknown_type_is_rejected_with_unknown_type,
    a_booked_sixty_minute_treatment_blocks_both_its_slots;
    postgres_only:
    another_instances_booking_shows_at_once_and_without_its_listener_within_a_second,
);

/// How long `one` takes to show a booking made by `two` at `start` on
/// `day`, having just read the day (so that its answer is kept).
async fn seen_after(one: &TestApp, two: &TestApp, day: NaiveDate, start: &str) -> Duration {
    let start = local(day, start);
    assert!(one.slot_available(day, &start).await);
    two.book(&start).await;
    let booked = std::time::Instant::now();
    while one.slot_available(day, &start).await {
        assert!(
            booked.elapsed() < std::time::Duration::from_secs(5),
            "{start} never shown taken"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    Duration::from_std(booked.elapsed()).unwrap()
}

/// Two instances on one PostgreSQL database: each hears of the days the
/// other changes (its listener's NOTIFY), so an answer kept by one shows
/// the other's booking at once rather than when it expires.
/// Without its listener (its connection ended by the server) an instance
/// keeps answers for a second only, and it listens again.
async fn another_instances_booking_shows_at_once_and_without_its_listener_within_a_second() {
    let db = crate::helpers::TestDatabase::create(Backend::Postgres);
    let one = crate::helpers::spawn_on(db.clone(), |_| {}).await;
    let two = crate::helpers::spawn_on(db.clone(), |_| {}).await;
    let day = open_day(3);
    // The first round also gives the listeners time to connect.
    seen_after(&one, &two, day, "10:00").await;
    let at_once = Duration::milliseconds(500);
    for start in ["10:30", "11:00"] {
        let seen = seen_after(&one, &two, day, start).await;
        assert!(seen < at_once, "{start}: shown after {seen}");
    }
    let mut admin = diesel::PgConnection::establish(&db.url).unwrap();
    let ended: Vec<Ended> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
         WHERE datname = current_database() \
         AND application_name = 'clinic-booking schedule listener'",
    )
    .load(&mut admin)
    .unwrap();
    assert_eq!(ended.len(), 2, "one listener per instance");
    let seen = seen_after(&one, &two, day, "11:30").await;
    assert!(seen < Duration::milliseconds(2500), "shown after {seen}");
    // Listening again (after a second), both show changes at once again.
    seen_after(&one, &two, day, "12:00").await;
    let seen = seen_after(&one, &two, day, "12:30").await;
    assert!(seen < at_once, "after reconnecting: shown after {seen}");
}

#[derive(diesel::QueryableByName)]
struct Ended {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    #[allow(dead_code)]
    ended: bool,
}
